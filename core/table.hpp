#pragma once
// Relation metadata as read from a catalog: what the copy, the stream and the preflight need to
// know about a table's columns.

#include <string>
#include <vector>

namespace crmsync {

/// pg_attribute.attidentity.
enum class IdentityKind { None, Always, ByDefault };

struct ColumnInfo {
  std::string name;
  std::string type;          // format_type() text, e.g. "character varying(100)", "numeric(12,2)"
  bool not_null = false;
  bool generated = false;    // GENERATED ALWAYS AS (...) STORED: computed by the target
  bool primary_key = false;
  /// Built-in type (and element type, for arrays): its binary COPY form carries no cluster-local
  /// OIDs, so binary COPY between two clusters is safe. Enums, domains, composites are not.
  bool builtin_type = true;
  bool has_default = false;  // DEFAULT expression (identity and generated columns have none here)
  IdentityKind identity = IdentityKind::None;
  std::string generation{};  // the expression of a generated column (pg_get_expr), else ""
  std::string default_expr{};  // the DEFAULT expression (pg_get_expr), else ""
  /// A column that an INSERT may leave out: nullable, or with a default, identity or generated.
  [[nodiscard]] bool may_be_omitted() const {
    return !not_null || has_default || generated || identity != IdentityKind::None;
  }
};

/// pg_class.relreplident: what the source WAL carries to locate an updated or deleted row.
enum class ReplicaIdentity { Default, Nothing, Full, Index };

enum class TableKind { Table, Partitioned };

struct TableInfo {
  std::string schema;
  std::string name;
  TableKind kind = TableKind::Table;
  ReplicaIdentity replica_identity = ReplicaIdentity::Default;
  bool has_primary_key = false;
  double estimated_rows = 0;  // pg_class.reltuples; -1 when never analyzed
  std::vector<ColumnInfo> columns;

  [[nodiscard]] const ColumnInfo* column(const std::string& column_name) const {
    for (const auto& c : columns) {
      if (c.name == column_name) {
        return &c;
      }
    }
    return nullptr;
  }
};

}  // namespace crmsync
