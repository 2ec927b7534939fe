#pragma once
// The copy phase's engine: N workers, each with one source session pinned to the copy snapshot
// and one target connection, take chunks from a shared queue and stream each chunk with
// COPY TO STDOUT -> COPY FROM STDIN, one target transaction per chunk.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cdc/chunks.hpp"
#include "checkpoint/store.hpp"
#include "config/pipeline_config.hpp"
#include "core/lsn.hpp"
#include "core/result.hpp"
#include "core/table.hpp"
#include "mapping/column_plan.hpp"
#include "mapping/row_mapper.hpp"
#include "pq/connection.hpp"

namespace crmsync::daemon {

/// Everything the copy needs to know about one table, decided once at start-up.
struct CopyTable {
  config::TableName source;
  TableInfo source_info;
  mapping::TablePlan plan;
  cdc::ChunkingKind chunking = cdc::ChunkingKind::Whole;
  std::string key_column;
  bool binary = false;  // identical built-in types on both sides: binary COPY
  // Set when the mapping changes values (transforms, validators, defaults, splits, added
  // columns): rows are read as COPY text, mapped one by one and written as COPY text, through
  // the same RowMapper the stream uses. The COPY reads `read_columns`, the mapper's input.
  std::shared_ptr<const mapping::RowMapper> mapper;
  std::vector<std::string> read_columns;
  config::OnInvalid on_invalid = config::OnInvalid::DeadLetter;
  // The publication's row filter on this table (its mapping's `where`, as the source deparsed
  // it), or empty: the copy reads only the rows the stream would send.
  std::string row_filter;
  // The target rows this pipeline owns (copy_setup.hpp owned_predicate), or empty: the table.
  std::string owned;
};

struct CopyTask {
  const CopyTable* table = nullptr;
  std::uint32_t index = 0;
  cdc::ChunkRange range;
};

/// Rewritten: every chunk was copied except some whose table was rewritten after the snapshot;
/// they are still pending and must be copied at a newer snapshot (as a resumed copy does).
enum class CopyOutcome { Completed, Stopped, Rewritten };

struct CopyRun {
  std::string pipeline;
  pq::ConnectOptions source;
  pq::ConnectOptions target;
  int parallel = 2;
  bool interactive = false;  // progress redrawn on a terminal
};

/// A snapshot the copy reads at: its exported name (kept alive by the caller) and the source WAL
/// position it was taken at (the slot's consistent point for the slot's own snapshot). The chunk
/// records carry both, for the stream's filter (daemon/chunk_filter.hpp).
struct CopySnapshotRef {
  std::string name;
  Lsn taken_at;
};

/// Copies every task at `snapshot`, marking each
/// chunk done in `store` after its target transaction commits. Returns Stopped when a stop was
/// requested (in-flight chunks are rolled back and stay pending), or the first error.
Result<CopyOutcome> copy_chunks(const CopyRun& run, const CopySnapshotRef& snapshot, std::vector<CopyTask> tasks,
                                const std::vector<CopyTable>& tables, checkpoint::Store& store);

/// `COPY (SELECT cols FROM [ONLY] table WHERE chunk) TO STDOUT [(FORMAT binary)]`.
std::string copy_out_sql(const CopyTable& table, const cdc::ChunkRange& range);

}  // namespace crmsync::daemon
