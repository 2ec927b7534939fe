#pragma once
// Splitting a table into chunks that copy independently and resume independently.
//
// - A single-column integer primary key that is part of the replica identity (DEFAULT or FULL)
//   gives key ranges [lower, upper): a row's chunk follows from its key alone, so a chunk re-copied at a later snapshot
//   can be reconciled with the stream exactly (cdc/README.md).
// - Otherwise an ordinary table gives ctid block ranges (PostgreSQL 14+ TID range scans).
// - A partitioned table without an integer key is one chunk (a parent has no ctid).
// The first chunk has no lower bound and the last no upper bound, so rows outside the planned
// span (possible at a later snapshot) still belong to exactly one chunk.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/table.hpp"
#include "pq/connection.hpp"

namespace crmsync::cdc {

enum class ChunkingKind { Whole, KeyRange, CtidRange };

struct ChunkRange {
  std::optional<std::int64_t> lower;  // inclusive
  std::optional<std::int64_t> upper;  // exclusive
};

struct TableChunks {
  ChunkingKind kind = ChunkingKind::Whole;
  std::string key_column;  // KeyRange only
  std::vector<ChunkRange> ranges;
};

/// The integer primary-key column if the table has exactly one of type smallint/integer/bigint
/// and every change the stream sends carries it (replica identity DEFAULT or FULL).
std::optional<std::string> integer_key(const TableInfo& table);

/// Splits keys [min, max] into about `rows / chunk_rows` equal ranges (at least 1, at most 10,000).
std::vector<ChunkRange> split_keys(std::int64_t min, std::int64_t max, double rows, std::int64_t chunk_rows);
/// Splits `pages` heap blocks likewise.
std::vector<ChunkRange> split_blocks(std::int64_t pages, double rows, std::int64_t chunk_rows);

/// Plans chunks for one table by reading min/max key or the relation size through `conn` (which
/// should be at the copy's snapshot so the plan matches what is copied).
Result<TableChunks> plan_chunks(pq::Connection& conn, const TableInfo& table, std::int64_t chunk_rows);

/// The WHERE clause selecting one chunk ("" for a whole table), e.g. `WHERE "id" >= 1 AND "id" < 9`.
std::string chunk_predicate(ChunkingKind kind, const std::string& key_column, const ChunkRange& range);

}  // namespace crmsync::cdc
