#pragma once
// Route: where one source relation's changes go on the target (built by the stream's relation
// cache from each Relation message, read by the applier).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace crmsync::sink::postgres {

/// Where one source relation's rows go, column by column.
struct Route {
  std::uint64_t id = 0;  // unique per route built (a Relation message builds a new one)
  std::string schema;
  std::string table;
  std::vector<std::string> columns;   // per source relation column: target column, "" = not written
  std::vector<std::size_t> key;       // source column indexes of the replica identity key
  bool full_identity = false;         // REPLICA IDENTITY FULL: locate rows by every old column
  std::vector<bool> compare_as_text;  // per column: no equality operator (json, xml, point...)
  // Set when the target table allows per-key compaction (see change_buffer.hpp): per source column
  // the target column's type without typmod, for the casts of multi-row statements.
  std::vector<std::string> cast_types;
  // Everything the apply statements' SQL depends on (table, target columns per source position,
  // identity kind, text comparisons, casts), interned to a number by intern_shape() once the route
  // is complete. Prepared statements are cached by it, so a route whose columns moved (a source
  // DROP + ADD COLUMN) never reuses a statement written for the old positions.
  std::uint64_t shape = 0;
  // SQL condition on the target rows this pipeline owns when several write the table
  // (consolidation), or empty: a TRUNCATE empties only these rows, by DELETE.
  std::string owned;
  [[nodiscard]] bool compact() const { return !cast_types.empty(); }
};

}  // namespace crmsync::sink::postgres
