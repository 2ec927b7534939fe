// The Applier's row changes: straight into the pipeline for tables that keep the source's order,
// through the ChangeBuffer for tables that allow per-key compaction (change_buffer.hpp), whose net
// changes are written as multi-row statements (multirow.hpp).

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <string>

#include "sink/postgres/applier.hpp"
#include "sink/postgres/multirow.hpp"
#include "sink/postgres/statements.hpp"

namespace crmsync::sink::postgres {
namespace {

// Fewer rows than this go as single-row prepared statements: unnest() and the array literals cost
// more than they save for a handful of rows.
constexpr std::size_t kMultiRowMin = 4;
// Rows per multi-row statement: bounds the statement's size and the parameter arrays' memory.
constexpr std::size_t kMultiRowMax = 2000;
// The buffer is written out into the open target transaction once it holds this much, not only
// at the batch's commit: the target then executes those statements while the apply thread
// gathers the rest of the batch, instead of idling until the commit. Most of what merges (hot
// rows updated by many transactions) merges within a megabyte's worth of changes too. Measured
// (bench/run catchup, 2026-12-06, two runs each): 1.14x and 1.31x native with the buffer written
// at the batch's 16 MB, 1.55x and 1.55x with 1 MB; a later full bench/run gave 1.42x, so the gain
// is within the machine's run-to-run spread (bench/ANALYSIS.md).
constexpr std::size_t kWriteBehindBytes = 1024 * 1024;

// Written source columns of `row` (route maps them, the value was sent), as a group signature.
std::vector<std::size_t> written_columns(const Route& route, const Row& row) {
  std::vector<std::size_t> cols;
  for (std::size_t i = 0; i < row.size() && i < route.columns.size(); ++i) {
    if (!route.columns[i].empty() && !row[i].is_unchanged_toast()) cols.push_back(i);
  }
  return cols;
}

}  // namespace

void Applier::set_compaction(bool enabled, std::size_t max_bytes) {
  compaction_ = enabled;
  buffer_max_bytes_ = std::min(max_bytes, kWriteBehindBytes);
}

Status Applier::flush_if_full() {
  if (buffer_.bytes() <= buffer_max_bytes_) return {};
  return flush_buffer();
}

Status Applier::insert(const Route& route, const Row& row) {
  if (!compaction_ || !route.compact()) return send_insert(route, row);
  if (buffer_.insert(route, row)) return flush_if_full();
  // Not mergeable here: keep the source's order by writing everything before it first.
  if (auto ok = flush_buffer(); !ok) return ok;
  if (buffer_.insert(route, row)) return {};
  return send_insert(route, row);
}

Status Applier::update(const Route& route, OldKind old_kind, const Row& old_row, const Row& new_row) {
  if (!compaction_ || !route.compact() || old_kind == OldKind::Full) {
    return send_update(route, old_kind, old_row, new_row);
  }
  if (old_kind == OldKind::Key) {
    const auto old_key = key_of(route, old_row);
    if (!old_key || old_key != key_of(route, new_row)) {
      // The key changed: two keys are involved, write it in the source's order.
      if (auto ok = flush_buffer(); !ok) return ok;
      return send_update(route, old_kind, old_row, new_row);
    }
  }
  if (buffer_.update(route, new_row)) return flush_if_full();
  if (auto ok = flush_buffer(); !ok) return ok;
  if (buffer_.update(route, new_row)) return {};
  return send_update(route, old_kind, old_row, new_row);
}

Status Applier::remove(const Route& route, OldKind old_kind, const Row& old_row) {
  if (!compaction_ || !route.compact() || old_kind == OldKind::Full) return send_remove(route, old_kind, old_row);
  if (buffer_.remove(route, old_row)) return flush_if_full();
  if (auto ok = flush_buffer(); !ok) return ok;
  if (buffer_.remove(route, old_row)) return {};
  return send_remove(route, old_kind, old_row);
}

Status Applier::flush_buffer() {
  if (buffer_.empty()) return {};
  counters_.merged = buffer_.merged();
  auto tables = buffer_.take();
  for (const auto& t : tables) {
    // Deletes first (a replaced row is deleted, then inserted), then updates, then inserts; keys
    // are distinct within each statement.
    std::vector<const Row*> deletes;
    std::vector<const Row*> inserts;
    std::map<std::vector<std::size_t>, std::vector<const Row*>> updates;  // by columns written
    for (const auto& c : t.changes) {
      switch (c.kind) {
        case NetKind::Delete: deletes.push_back(&c.row); break;
        case NetKind::Replace:
          deletes.push_back(&c.row);
          inserts.push_back(&c.row);
          break;
        case NetKind::Insert: inserts.push_back(&c.row); break;
        case NetKind::Update: updates[written_columns(t.route, c.row)].push_back(&c.row); break;
        case NetKind::Gone: break;
      }
    }
    if (auto ok = write_group(t.route, NetKind::Delete, t.route.key, deletes); !ok) return ok;
    for (const auto& [columns, rows] : updates) {
      if (auto ok = write_group(t.route, NetKind::Update, columns, rows); !ok) return ok;
    }
    std::map<std::vector<std::size_t>, std::vector<const Row*>> by_columns;
    for (const auto* row : inserts) by_columns[written_columns(t.route, *row)].push_back(row);
    for (const auto& [columns, rows] : by_columns) {
      if (auto ok = write_group(t.route, NetKind::Insert, columns, rows); !ok) return ok;
    }
  }
  return {};
}

Status Applier::write_group(const Route& route, NetKind kind, const std::vector<std::size_t>& columns,
                            const std::vector<const Row*>& rows) {
  if (rows.size() < kMultiRowMin) {
    for (const auto* row : rows) {
      Status ok;
      if (kind == NetKind::Delete) ok = send_remove(route, OldKind::Key, *row);
      if (kind == NetKind::Update) ok = send_update(route, OldKind::None, *row, *row);
      if (kind == NetKind::Insert) ok = send_insert(route, *row);
      if (!ok) return ok;
    }
    return {};
  }
  // Parameter arrays: the key columns for DELETE; the key columns, then the columns it sets (the
  // key did not change, so it is left out of SET) for UPDATE; the written columns for INSERT.
  std::vector<std::size_t> params = columns;
  std::vector<std::size_t> set_columns;
  char shape = 'I';
  switch (kind) {
    case NetKind::Delete: shape = 'D'; break;
    case NetKind::Update: {
      for (auto c : columns) {
        if (std::find(route.key.begin(), route.key.end(), c) == route.key.end()) set_columns.push_back(c);
      }
      if (set_columns.empty()) return {};  // only the key was sent: nothing to set
      params = route.key;
      params.insert(params.end(), set_columns.begin(), set_columns.end());
      shape = 'U';
      break;
    }
    default: break;
  }
  const auto make_sql = [&] {
    if (kind == NetKind::Delete) return multirow_delete_sql(route);
    if (kind == NetKind::Update) return multirow_update_sql(route, set_columns);
    return multirow_insert_sql(route, params);
  };
  std::string key;
  shape_key(key, shape, route);
  shape_key_columns(key, params);
  for (std::size_t start = 0; start < rows.size(); start += kMultiRowMax) {
    const auto end = std::min(rows.size(), start + kMultiRowMax);
    std::vector<Value> arrays;
    arrays.reserve(params.size());
    std::vector<const Value*> column;
    for (auto p : params) {
      column.clear();
      for (std::size_t r = start; r < end; ++r) column.push_back(&(*rows[r])[p]);
      arrays.push_back(Value::of(text_array(column)));
    }
    std::vector<const Value*> values;
    for (const auto& a : arrays) values.push_back(&a);
    const auto n = static_cast<std::int64_t>(end - start);
    if (auto ok = send_prepared(key, make_sql, values, kind == NetKind::Insert ? 0 : n); !ok) return ok;
    counters_.multirow_rows += n;
  }
  return {};
}

}  // namespace crmsync::sink::postgres
