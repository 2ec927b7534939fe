#include "pq/catalog.hpp"

#include <charconv>

namespace crmsync::pq {
namespace {

constexpr const char* kTableSql = R"sql(
SELECT c.oid, c.relkind, c.relreplident, c.reltuples,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')
)sql";

constexpr const char* kColumnsSql = R"sql(
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attgenerated <> '',
       COALESCE(a.attnum = ANY (pk.indkey), false),
       a.atttypid < 16384 AND t.typelem < 16384 AND t.typtype = 'b',
       a.atthasdef AND a.attgenerated = '', a.attidentity,
       CASE WHEN a.attgenerated <> '' THEN pg_get_expr(ad.adbin, ad.adrelid) END,
       CASE WHEN a.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_index pk ON pk.indrelid = a.attrelid AND pk.indisprimary
WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
)sql";

ReplicaIdentity parse_replident(std::string_view v) {
  if (v == "n") return ReplicaIdentity::Nothing;
  if (v == "f") return ReplicaIdentity::Full;
  if (v == "i") return ReplicaIdentity::Index;
  return ReplicaIdentity::Default;
}

}  // namespace

Result<std::optional<TableInfo>> read_table(Connection& conn, const std::string& schema, const std::string& table) {
  auto head = conn.exec_params(kTableSql, {schema, table});
  if (!head) {
    return head.take_error();
  }
  if (head->rows() == 0) {
    return std::optional<TableInfo>{};
  }
  TableInfo info;
  info.schema = schema;
  info.name = table;
  const std::string oid(head->get(0, 0));
  info.kind = head->get(0, 1) == "p" ? TableKind::Partitioned : TableKind::Table;
  info.replica_identity = parse_replident(head->get(0, 2));
  const auto tuples = head->get(0, 3);
  std::from_chars(tuples.data(), tuples.data() + tuples.size(), info.estimated_rows);
  info.has_primary_key = head->get(0, 4) == "t";

  auto cols = conn.exec_params(kColumnsSql, {oid});
  if (!cols) {
    return cols.take_error();
  }
  for (int r = 0; r < cols->rows(); ++r) {
    info.columns.push_back(ColumnInfo{
        .name = std::string(cols->get(r, 0)),
        .type = std::string(cols->get(r, 1)),
        .not_null = cols->get(r, 2) == "t",
        .generated = cols->get(r, 3) == "t",
        .primary_key = cols->get(r, 4) == "t",
        .builtin_type = cols->get(r, 5) == "t",
        .has_default = cols->get(r, 6) == "t",
        .identity = cols->get(r, 7) == "a"   ? IdentityKind::Always
                    : cols->get(r, 7) == "d" ? IdentityKind::ByDefault
                                             : IdentityKind::None,
        .generation = std::string(cols->get(r, 8)),
        .default_expr = std::string(cols->get(r, 9)),
    });
  }
  return std::optional<TableInfo>{std::move(info)};
}

Result<std::string> read_setting(Connection& conn, const std::string& name) {
  auto res = conn.exec_params("SELECT current_setting($1)", {name});
  if (!res) {
    return res.take_error();
  }
  return std::string(res->get(0, 0));
}

}  // namespace crmsync::pq
