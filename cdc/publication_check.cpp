#include "cdc/publication_check.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace crmsync::cdc {

Result<std::vector<PublicationProblem>> publication_problems(pq::Connection& conn, const std::string& publication,
                                                             const std::vector<config::TableName>& tables,
                                                             const config::RowFilters& filters) {
  const auto name = pq::quote_ident(publication);
  std::vector<PublicationProblem> out;
  const auto add = [&out](PublicationProblem::Kind kind, std::string text) { out.push_back({kind, std::move(text)}); };
  using Kind = PublicationProblem::Kind;
  auto pub = conn.exec_params(
      "SELECT puballtables, pubinsert, pubupdate, pubdelete, pubtruncate, pubviaroot FROM pg_publication WHERE "
      "pubname = $1",
      {publication});
  if (!pub) return pub.take_error();
  if (pub->rows() == 0) {
    add(Kind::Gone,
        fmt::format("publication \"{}\" no longer exists on the source: the changes since it was dropped are "
                    "not decodable through it. Start this pipeline over",
                    publication));
    return out;
  }
  if (pub->get(0, 0) == "t") {
    add(Kind::Other, fmt::format("publication \"{}\" is FOR ALL TABLES: changes of tables outside source.tables would "
                                 "reach crmsync; give crmsync a publication of its own tables",
                                 publication));
  }
  std::vector<std::string> missing_ops;
  const char* ops[] = {"insert", "update", "delete", "truncate"};
  for (int i = 0; i < 4; ++i) {
    if (pub->get(0, 1 + i) != "t") missing_ops.emplace_back(ops[i]);
  }
  if (!missing_ops.empty()) {
    add(Kind::Other, fmt::format("publication \"{}\" does not publish {}: those changes would never reach the target. "
                                 "Run on the source: ALTER PUBLICATION {} SET (publish = 'insert, update, delete, "
                                 "truncate')",
                                 publication, fmt::join(missing_ops, ", "), name));
  }
  const bool via_root = pub->get(0, 5) == "t";
  // Row filters, column lists and schema publications came with PostgreSQL 15.
  auto version = conn.exec("SELECT current_setting('server_version_num')::int >= 150000");
  if (!version) return version.take_error();
  const bool pg15 = version->get(0, 0) == "t";
  auto rels = conn.exec_params(
      std::string("SELECT n.nspname, c.relname, c.relkind, ") +
          (pg15 ? "pr.prqual IS NOT NULL, pr.prattrs IS NOT NULL" : "false, false") +
          " FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid JOIN pg_class c ON c.oid = "
          "pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE p.pubname = $1 ORDER BY 1, 2",
      {publication});
  if (!rels) return rels.take_error();
  std::set<config::TableName> published;
  for (int i = 0; i < rels->rows(); ++i) {
    const config::TableName t{std::string(rels->get(i, 0)), std::string(rels->get(i, 1))};
    published.insert(t);
    const auto qualified = pq::quote_qualified(t.schema, t.table);
    const bool has_filter = rels->get(i, 3) == "t";
    const bool wants_filter = filters.contains(t);
    if ((has_filter && !wants_filter) || rels->get(i, 4) == "t") {
      add(Kind::Other,
          fmt::format("publication \"{}\" has a {} on {}: the rows or columns it leaves out would silently "
                      "be missing on the target. Run on the source: ALTER PUBLICATION {} SET TABLE ... "
                      "listing {} without WHERE or a column list (or give its mapping that where)",
                      publication, has_filter && !wants_filter ? "row filter" : "column list", t.qualified(), name,
                      qualified));
    }
    if (!has_filter && wants_filter) {
      add(Kind::Other,
          fmt::format("publication \"{}\" has no row filter on {}, whose mapping has where: {}; rows outside it "
                      "would reach the target. Let crmsync create the publication (DROP PUBLICATION {} before the "
                      "first run), or add the filter: ALTER PUBLICATION {} SET TABLE ... {} WHERE ({}) ...",
                      publication, t.qualified(), filters.at(t), name, name, qualified, filters.at(t)));
    }
    if (rels->get(i, 2) == "p" && !via_root) {
      add(Kind::Other,
          fmt::format("publication \"{}\" publishes partitioned table {} without publish_via_partition_root: "
                      "its changes would arrive as changes of the partitions. Run on the source: ALTER "
                      "PUBLICATION {} SET (publish_via_partition_root = true)",
                      publication, t.qualified(), name));
    }
  }
  auto schemas = conn.exec_params(
      pg15 ? "SELECT count(*) FROM pg_publication_namespace pn JOIN pg_publication p ON p.oid = pn.pnpubid WHERE "
             "p.pubname = $1"
           : "SELECT 0 WHERE $1::text IS NOT NULL",
      {publication});
  if (!schemas) return schemas.take_error();
  if (schemas->get(0, 0) != "0") {
    add(Kind::Other,
        fmt::format("publication \"{}\" publishes whole schemas (FOR TABLES IN SCHEMA): tables added to them "
                    "later would reach crmsync; list the tables instead",
                    publication));
  }
  for (const auto& t : tables) {
    if (published.contains(t)) continue;
    add(Kind::TableMissing,
        fmt::format("table {} is in source.tables but not in publication \"{}\": its changes are not "
                    "streamed. Run on the source: ALTER PUBLICATION {} ADD TABLE {}",
                    t.qualified(), publication, name, pq::quote_qualified(t.schema, t.table)));
  }
  for (const auto& t : published) {
    if (std::find(tables.begin(), tables.end(), t) != tables.end()) continue;
    add(Kind::Other, fmt::format("publication \"{}\" also publishes {}, which is not in source.tables. Run on the "
                                 "source: ALTER PUBLICATION {} DROP TABLE {}",
                                 publication, t.qualified(), name, pq::quote_qualified(t.schema, t.table)));
  }
  return out;
}

}  // namespace crmsync::cdc
