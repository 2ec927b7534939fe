#include "sink/postgres/compaction.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>

namespace crmsync::sink::postgres {

Result<std::string> prepare_compaction(pq::Connection& target, Route& route) {
  if (route.full_identity) return std::string("REPLICA IDENTITY FULL (no key)");
  if (route.key.empty()) return std::string("no replica identity key");
  for (auto k : route.key) {
    if (k >= route.columns.size() || route.columns[k].empty()) return std::string("a key column is not written");
  }
  auto res = target.exec_params(
      "SELECT c.relkind::text, c.relhassubclass, "
      " (SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid AND (i.indisunique OR i.indisexclusion)), "
      " (SELECT string_agg(a.attname, ',' ORDER BY a.attname) FROM pg_index i "
      "   JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey) "
      "   WHERE i.indrelid = c.oid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL), "
      " EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND (f.conrelid = c.oid OR f.confrelid = c.oid)), "
      " EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid AND NOT g.tgisinternal AND g.tgenabled <> 'D'), "
      " EXISTS (SELECT 1 FROM pg_rewrite r WHERE r.ev_class = c.oid AND r.rulename <> '_RETURN') "
      "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
      {route.schema, route.table});
  if (!res) return res.take_error();
  if (res->rows() != 1) return std::string("target table not found");
  if (res->get(0, 0) != "r") return std::string("not an ordinary table");
  if (res->get(0, 1) == "t") return std::string("has inheritance children");
  if (res->get(0, 2) != "1") return std::string("more or fewer than one unique index");
  std::vector<std::string> key_names;
  for (auto k : route.key) key_names.push_back(route.columns[k]);
  std::sort(key_names.begin(), key_names.end());
  if (res->get(0, 3) != fmt::format("{}", fmt::join(key_names, ","))) {
    return std::string("its unique index is not on the replica identity key");
  }
  if (res->get(0, 4) == "t") return std::string("a foreign key points from or to it");
  if (res->get(0, 5) == "t") return std::string("it has triggers");
  if (res->get(0, 6) == "t") return std::string("it has rules");

  auto types = target.exec_params(
      "SELECT a.attname, format_type(a.atttypid, -1) FROM pg_attribute a "
      "WHERE a.attrelid = (quote_ident($1) || '.' || quote_ident($2))::regclass AND a.attnum > 0 "
      "AND NOT a.attisdropped",
      {route.schema, route.table});
  if (!types) return types.take_error();
  std::map<std::string, std::string, std::less<>> by_name;
  for (int r = 0; r < types->rows(); ++r) by_name.emplace(std::string(types->get(r, 0)), std::string(types->get(r, 1)));
  std::vector<std::string> casts;
  for (const auto& col : route.columns) {
    if (col.empty()) {
      casts.emplace_back();
      continue;
    }
    auto it = by_name.find(col);
    if (it == by_name.end()) return std::string(fmt::format("column {} not found", col));
    casts.push_back(it->second);
  }
  route.cast_types = std::move(casts);
  return std::string();
}

}  // namespace crmsync::sink::postgres
