#pragma once
// Start-up decisions for the copy: which tables, mapped where, chunked how, binary or text; and
// the target tables made ready (created, checked empty or truncated).

#include <vector>

#include "checkpoint/store.hpp"
#include "config/pipeline_config.hpp"
#include "core/result.hpp"
#include "daemon/copy_phase.hpp"
#include "pq/connection.hpp"

namespace crmsync::daemon {

/// Reads every configured table on source and target, creates missing target tables when
/// target.create_tables allows it, and decides binary vs text COPY. Errors name the table.
/// `resuming`: a copy under way; a column the source gained meanwhile is added to an
/// identity-mapped target table (on a fresh start a missing column is the preflight's error).
/// SQL condition on the target rows a pipeline owns under `mapping` (mapping::owned_rows), e.g.
/// `"source_system" = 'legacy_a'`; empty when it owns the whole table.
std::string owned_predicate(const config::Mapping* mapping);

Result<std::vector<CopyTable>> describe_tables(const config::PipelineConfig& cfg, pq::Connection& source,
                                               pq::Connection& target, bool resuming);

/// Fresh start only: every target table must be empty, or is truncated with
/// snapshot.truncate_target.
Status prepare_empty_targets(const config::PipelineConfig& cfg, pq::Connection& target,
                             const std::vector<CopyTable>& tables);

/// Plans the chunks of `table` through `snapshot_conn` and records them (pending) in the store.
Status plan_and_record(pq::Connection& snapshot_conn, const config::PipelineConfig& cfg, CopyTable& table,
                       checkpoint::Store& store);

/// Restores a table's chunking from its recorded plan; false when none is recorded yet.
Result<bool> load_plan(CopyTable& table, const checkpoint::Store& store);

/// The pending chunks of every table, as tasks.
Result<std::vector<CopyTask>> pending_tasks(const std::vector<CopyTable>& tables, checkpoint::Store& store);

}  // namespace crmsync::daemon
