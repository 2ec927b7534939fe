#include "cdc/chunks.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace crmsync::cdc {
namespace {

constexpr std::int64_t kMaxChunks = 10'000;

std::int64_t chunk_count(double rows, std::int64_t chunk_rows) {
  if (rows <= static_cast<double>(chunk_rows)) {
    return 1;
  }
  return std::min<std::int64_t>(kMaxChunks,
                                static_cast<std::int64_t>(std::ceil(rows / static_cast<double>(chunk_rows))));
}

// Splits [first, last] into n contiguous ranges, open at both ends. Unsigned arithmetic: the span
// of int64 keys can exceed INT64_MAX.
std::vector<ChunkRange> split_span(std::int64_t first, std::int64_t last, std::int64_t n) {
  std::uint64_t span = static_cast<std::uint64_t>(last) - static_cast<std::uint64_t>(first) + 1;
  if (span == 0) {
    span = UINT64_MAX;  // the whole int64 range
  }
  const auto parts = static_cast<std::uint64_t>(std::max<std::int64_t>(1, n));
  const auto count = std::min(parts, span);
  const auto step = span / count;
  const auto extra = span % count;
  auto boundary = [&](std::uint64_t i) {
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(first) + step * i + std::min(i, extra));
  };
  std::vector<ChunkRange> out;
  out.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    ChunkRange r;
    if (i > 0) r.lower = boundary(i);
    if (i + 1 < count) r.upper = boundary(i + 1);
    out.push_back(r);
  }
  return out;
}

Result<std::int64_t> parse_int(std::string_view text, const char* what) {
  std::int64_t v = 0;
  if (std::from_chars(text.data(), text.data() + text.size(), v).ec != std::errc{}) {
    return Error{ErrorCode::ProtocolViolation, fmt::format("unexpected {} \"{}\" from the source", what, text)};
  }
  return v;
}

}  // namespace

std::optional<std::string> integer_key(const TableInfo& table) {
  // The stream reconciles a chunk re-copied at a later snapshot by the chunk column's value in
  // each change (daemon/chunk_filter.hpp). A DELETE carries only the replica identity, so the key
  // must be part of it: the primary key (DEFAULT) or every column (FULL). With USING INDEX on
  // another index a DELETE would not say which chunk it belongs to: chunk such tables by blocks.
  if (table.replica_identity != ReplicaIdentity::Default && table.replica_identity != ReplicaIdentity::Full) {
    return std::nullopt;
  }
  std::optional<std::string> key;
  for (const auto& c : table.columns) {
    if (!c.primary_key) continue;
    if (key || (c.type != "smallint" && c.type != "integer" && c.type != "bigint")) {
      return std::nullopt;  // composite or non-integer key
    }
    key = c.name;
  }
  return key;
}

std::vector<ChunkRange> split_keys(std::int64_t min, std::int64_t max, double rows, std::int64_t chunk_rows) {
  if (max < min) {
    return {ChunkRange{}};
  }
  return split_span(min, max, chunk_count(rows, chunk_rows));
}

std::vector<ChunkRange> split_blocks(std::int64_t pages, double rows, std::int64_t chunk_rows) {
  if (pages <= 1) {
    return {ChunkRange{}};
  }
  return split_span(0, pages - 1, chunk_count(rows, chunk_rows));
}

Result<TableChunks> plan_chunks(pq::Connection& conn, const TableInfo& table, std::int64_t chunk_rows) {
  const auto qualified = pq::quote_qualified(table.schema, table.name);
  TableChunks out;
  if (auto key = integer_key(table)) {
    // min/max come from the key's index; the row count from the planner's estimate (or the key
    // span when the table was never analyzed): a count(*) would scan the table once more.
    auto res = conn.exec(fmt::format(
        "SELECT min({0}), max({0}), (SELECT reltuples::bigint FROM pg_class WHERE oid = {2}::regclass) FROM {1}",
        pq::quote_ident(*key), qualified, pq::quote_literal(qualified)));
    if (!res) {
      return res.take_error();
    }
    out.kind = ChunkingKind::KeyRange;
    out.key_column = *key;
    if (res->is_null(0, 0)) {
      out.ranges = {ChunkRange{}};
      return out;
    }
    auto lo = parse_int(res->get(0, 0), "minimum key");
    auto hi = parse_int(res->get(0, 1), "maximum key");
    auto n = parse_int(res->get(0, 2), "reltuples");
    if (!lo || !hi || !n) {
      return !lo ? lo.take_error() : !hi ? hi.take_error() : n.take_error();
    }
    const double span = static_cast<double>(*hi) - static_cast<double>(*lo) + 1;
    out.ranges = split_keys(*lo, *hi, *n >= 0 ? static_cast<double>(*n) : span, chunk_rows);
    return out;
  }
  if (table.kind == TableKind::Partitioned) {
    out.ranges = {ChunkRange{}};
    return out;
  }
  auto res =
      conn.exec(fmt::format("SELECT pg_relation_size({0}::regclass) / current_setting('block_size')::bigint, "
                            "reltuples::bigint FROM pg_class WHERE oid = {0}::regclass",
                            pq::quote_literal(qualified)));
  if (!res) {
    return res.take_error();
  }
  auto pages = parse_int(res->get(0, 0), "relation size");
  auto tuples = parse_int(res->get(0, 1), "reltuples");
  if (!pages || !tuples) {
    return !pages ? pages.take_error() : tuples.take_error();
  }
  out.kind = ChunkingKind::CtidRange;
  // Never analyzed (reltuples -1): assume ~60 rows a block, a typical CRM row width.
  const double rows = *tuples >= 0 ? static_cast<double>(*tuples) : static_cast<double>(*pages) * 60;
  out.ranges = split_blocks(*pages, rows, chunk_rows);
  if (out.ranges.size() == 1) {
    out.kind = ChunkingKind::Whole;
  }
  return out;
}

std::string chunk_predicate(ChunkingKind kind, const std::string& key_column, const ChunkRange& range) {
  if (kind == ChunkingKind::Whole || (!range.lower && !range.upper)) {
    return "";
  }
  std::string lower;
  std::string upper;
  if (kind == ChunkingKind::KeyRange) {
    const auto col = pq::quote_ident(key_column);
    if (range.lower) lower = fmt::format("{} >= {}", col, *range.lower);
    if (range.upper) upper = fmt::format("{} < {}", col, *range.upper);
  } else {
    if (range.lower) lower = fmt::format("ctid >= '({},0)'::tid", *range.lower);
    if (range.upper) upper = fmt::format("ctid < '({},0)'::tid", *range.upper);
  }
  if (lower.empty()) return "WHERE " + upper;
  if (upper.empty()) return "WHERE " + lower;
  return fmt::format("WHERE {} AND {}", lower, upper);
}

}  // namespace crmsync::cdc
