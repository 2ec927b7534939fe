#include "config/pipeline_config.hpp"

#include <algorithm>

namespace crmsync::config {

const Mapping* PipelineConfig::mapping_for(const TableName& source_table) const {
  // A handful of mappings at most, looked up once per relation: a scan is the simplest index.
  const auto it =
      std::find_if(mappings.begin(), mappings.end(), [&](const Mapping& m) { return m.from == source_table; });
  return it == mappings.end() ? nullptr : &*it;
}

RowFilters PipelineConfig::row_filters() const {
  RowFilters out;
  for (const auto& m : mappings) {
    if (m.where) out.emplace(m.from, *m.where);
  }
  return out;
}

}  // namespace crmsync::config
