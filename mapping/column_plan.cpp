#include "mapping/column_plan.hpp"

#include <algorithm>

namespace crmsync::mapping {

TablePlan plan_table(const config::TableName& source_name, const TableInfo& source, const config::Mapping* mapping) {
  TablePlan plan{.source = source_name,
                 .target = mapping != nullptr ? mapping->to : source_name,
                 .columns = {},
                 .unknown_source_columns = {}};
  for (const auto& col : source.columns) {
    if (col.generated) {
      continue;
    }
    if (mapping == nullptr) {
      plan.columns.push_back({col.name, col.name});
      continue;
    }
    const auto& excluded = mapping->exclude;
    if (std::find(excluded.begin(), excluded.end(), col.name) != excluded.end()) {
      continue;
    }
    const auto it = mapping->columns.find(col.name);
    plan.columns.push_back({col.name, it != mapping->columns.end() ? it->second.to : col.name});
  }
  if (mapping != nullptr) {
    for (const auto& [name, _] : mapping->columns) {
      if (source.column(name) == nullptr) {
        plan.unknown_source_columns.push_back(name);
      }
    }
    for (const auto& name : mapping->exclude) {
      if (source.column(name) == nullptr) {
        plan.unknown_source_columns.push_back(name);
      }
    }
  }
  return plan;
}

}  // namespace crmsync::mapping

namespace crmsync::mapping {

std::vector<OwnedBy> owned_rows(const config::Mapping* mapping) {
  std::vector<OwnedBy> out;
  if (mapping == nullptr) return out;
  for (const auto& column : mapping->key) {
    const auto it = mapping->add.find(column);
    if (it == mapping->add.end() || it->second.kind != config::AddedKind::Constant) continue;
    out.push_back({column, it->second.value});
  }
  return out;
}

}  // namespace crmsync::mapping
