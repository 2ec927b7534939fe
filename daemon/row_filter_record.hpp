#pragma once
// The row filters a pipeline copied under, kept in the checkpoint (meta key "row_filters"): each
// table's `where` as the config had it and as the publication deparsed it. Both must stay what
// they were: a `where` edited in the config mid-migration, or a publication filter edited by hand,
// would leave the target holding rows of one filter and the stream sending rows of another (rows
// that now pass, but were never copied, would be missing for good). `run` refuses at start and
// `crmsync check` reports the same text. A checkpoint without the record copied without filters.

#include <optional>
#include <string>

#include "checkpoint/store.hpp"
#include "config/pipeline_config.hpp"
#include "core/result.hpp"

namespace crmsync::daemon {

struct RowFilterRecord {
  config::RowFilters configured;  // mappings[].where
  config::RowFilters published;   // pg_get_expr of the publication's filter

  static Result<RowFilterRecord> load(const checkpoint::Store& store);
  Status save(checkpoint::Store& store) const;
};

/// Why the pipeline may not go on with `cfg` and the publication's current `published` filters,
/// or nothing when both match the record.
std::optional<std::string> row_filter_refusal(const RowFilterRecord& recorded, const config::PipelineConfig& cfg,
                                              const config::RowFilters& published);

}  // namespace crmsync::daemon
