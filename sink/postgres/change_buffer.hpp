#pragma once
// Net-effect compaction of one target transaction's row changes, per table and replica identity
// key. Several source transactions go into one target transaction, and only the batch's end state
// becomes visible, so three updates of one row can be written as one, an insert then a delete as
// nothing. What is left is written as a few multi-row statements per table (deletes, then updates,
// then inserts) instead of one statement per change, in an order that differs from the source's.
//
// That reordering is safe only where changes to different keys commute: the target table's only
// unique index is the key, no foreign key points from or to it, and no trigger or rule fires on it
// (read_compaction_info() checks this; Route::compact() says the table passed). Anything else keeps
// the source's order: a change whose key changes, a transition that should not happen (an insert
// over a live row, an update of a deleted one) and every TRUNCATE or DDL flush the buffer first.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/value.hpp"
#include "sink/postgres/route.hpp"

namespace crmsync::sink::postgres {

enum class NetKind {
  Insert,   // the key had no row before: INSERT row
  Update,   // UPDATE the key's row to row (unchanged-TOAST columns left alone)
  Delete,   // DELETE the key's row (row holds at least the key columns)
  Replace,  // the key's row was deleted and inserted again: DELETE, then INSERT row
  Gone,     // inserted and deleted again within the buffer: nothing to write
};

struct NetChange {
  NetKind kind;
  Row row;
};

struct TableChanges {
  Route route;
  std::vector<NetChange> changes;  // first-seen order of the keys
};

/// The key of `row` under `route`, or nullopt when a key column is missing, NULL or unchanged TOAST.
std::optional<std::string> key_of(const Route& route, const Row& row);

class ChangeBuffer {
 public:
  /// False: the change cannot be merged (no usable key, or a transition that must keep the source's
  /// order). The caller flushes the buffer and offers the change again, or writes it directly.
  bool insert(const Route& route, const Row& row);
  bool update(const Route& route, const Row& new_row);  // the key is unchanged
  bool remove(const Route& route, const Row& old_row);

  [[nodiscard]] bool empty() const { return tables_.empty(); }
  [[nodiscard]] std::size_t bytes() const { return bytes_; }
  [[nodiscard]] std::int64_t merged() const { return merged_; }  // changes absorbed into another
  /// The net changes, table by table in first-seen order; leaves the buffer empty.
  std::vector<TableChanges> take();
  void clear();

 private:
  struct Table {
    TableChanges data;
    std::unordered_map<std::string, std::size_t> index;  // key -> position in data.changes
  };
  Table& table(const Route& route);
  NetChange* find(Table& t, const std::string& key);
  void add(Table& t, std::string key, NetKind kind, const Row& row);

  std::vector<Table> tables_;
  std::unordered_map<std::uint64_t, std::size_t> by_route_;  // Route::id -> position in tables_
  std::size_t bytes_ = 0;
  std::int64_t merged_ = 0;
};

}  // namespace crmsync::sink::postgres
