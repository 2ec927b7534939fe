#include "cdc/row_filter.hpp"

#include <fmt/format.h>

#include "pq/catalog.hpp"

namespace crmsync::cdc {

std::string publication_entry(const config::TableName& table, const config::RowFilters& filters) {
  auto entry = pq::quote_qualified(table.schema, table.table);
  if (const auto it = filters.find(table); it != filters.end()) entry += " WHERE (" + it->second + ")";
  return entry;
}

Result<config::RowFilters> published_row_filters(pq::Connection& conn, const std::string& publication) {
  auto res = conn.exec_params(
      "SELECT n.nspname, c.relname, pg_get_expr(pr.prqual, pr.prrelid) FROM pg_publication_rel pr JOIN pg_publication "
      "p ON p.oid = pr.prpubid JOIN pg_class c ON c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE p.pubname = $1 AND pr.prqual IS NOT NULL",
      {publication});
  if (!res) return res.take_error();
  config::RowFilters out;
  for (int i = 0; i < res->rows(); ++i) {
    out.emplace(config::TableName{std::string(res->get(i, 0)), std::string(res->get(i, 1))},
                std::string(res->get(i, 2)));
  }
  return out;
}

Result<config::RowFilters> deparsed_row_filters(pq::Connection& conn, const config::RowFilters& filters) {
  if (filters.empty()) return config::RowFilters{};
  std::vector<std::string> entries;
  for (const auto& [table, _] : filters) entries.push_back(publication_entry(table, filters));
  const auto scratch = fmt::format("crmsync_deparse_{}", conn.backend_pid());
  if (auto ok = conn.exec("BEGIN"); !ok) return ok.take_error();
  auto created = conn.exec_params(
      fmt::format("CREATE PUBLICATION {} FOR TABLE {}", pq::quote_ident(scratch), fmt::join(entries, ", ")), {});
  auto deparsed = created ? published_row_filters(conn, scratch) : Result<config::RowFilters>(created.error());
  (void)conn.exec("ROLLBACK");
  return deparsed;
}

Status check_filter_columns(pq::Connection& conn, const std::string& publication) {
  // The columns a filter reads are the Vars of its stored expression tree (":varattno N"); the
  // replica identity is FULL, or the columns of the primary key (DEFAULT) or of the chosen index.
  auto res = conn.exec_params(
      "SELECT format('%I.%I', n.nspname, c.relname), string_agg(DISTINCT quote_ident(a.attname), ', '), "
      "c.relreplident FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid JOIN pg_class c ON "
      "c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace CROSS JOIN LATERAL "
      "regexp_matches(pr.prqual::text, ':varattno (\\d+)', 'g') m JOIN pg_attribute a ON a.attrelid = c.oid AND "
      "a.attnum = m[1]::int WHERE p.pubname = $1 AND c.relreplident <> 'f' AND NOT EXISTS (SELECT 1 FROM pg_index i "
      "WHERE i.indrelid = c.oid AND (i.indisreplident OR (c.relreplident = 'd' AND i.indisprimary)) AND a.attnum = "
      "ANY(i.indkey)) GROUP BY 1, 3 ORDER BY 1",
      {publication});
  if (!res) return res.take_error();
  if (res->rows() == 0) return {};
  std::vector<std::string> problems;
  for (int i = 0; i < res->rows(); ++i) {
    problems.push_back(fmt::format(
        "the where of {0} reads {1}, which {2} not in its replica identity: PostgreSQL would refuse every UPDATE and "
        "DELETE of that table on the source. Filter on key columns only, or run on the source ALTER TABLE {0} "
        "REPLICA IDENTITY FULL",
        res->get(i, 0), res->get(i, 1), res->get(i, 1).find(',') == std::string_view::npos ? "is" : "are"));
  }
  return Error{ErrorCode::ConfigInvalid, fmt::format("{}", fmt::join(problems, "; "))};
}

}  // namespace crmsync::cdc
