#include "sink/postgres/statements.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <mutex>
#include <unordered_map>

#include "pq/connection.hpp"

namespace crmsync::sink::postgres {
namespace {

std::string target_name(const Route& r) {
  return pq::quote_qualified(r.schema, r.table);
}

}  // namespace

std::uint64_t intern_shape(const Route& route) {
  std::string signature;
  for (const auto* part : {&route.schema, &route.table}) signature += *part + '\0';
  signature += route.full_identity ? 'f' : 'k';
  for (const auto k : route.key) signature += std::to_string(k) + ',';
  signature += '\0';
  for (std::size_t i = 0; i < route.columns.size(); ++i) {
    signature += route.columns[i] + '\0';
    signature += i < route.compare_as_text.size() && route.compare_as_text[i] ? 't' : '-';
    signature += (i < route.cast_types.size() ? route.cast_types[i] : std::string()) + '\0';
  }
  static std::mutex mutex;
  static std::unordered_map<std::string, std::uint64_t> shapes;
  std::lock_guard lock(mutex);
  return shapes.emplace(std::move(signature), shapes.size() + 1).first->second;
}

void shape_key(std::string& key, char kind, const Route& route) {
  key.clear();
  key.push_back(kind);
  // A route built by hand (tests, tools) has no shape yet: intern it here, per call.
  const auto shape = route.shape != 0 ? route.shape : intern_shape(route);
  for (int b = 0; b < 8; ++b) key.push_back(static_cast<char>((shape >> (8 * b)) & 0xff));
}

bool key_has_shape(const std::string& key, std::uint64_t shape) {
  if (key.size() < 9) return false;
  std::uint64_t have = 0;
  for (int b = 0; b < 8; ++b) have |= static_cast<std::uint64_t>(static_cast<unsigned char>(key[1 + b])) << (8 * b);
  return have == shape;
}

void shape_key_columns(std::string& key, const std::vector<std::size_t>& columns) {
  for (const auto c : columns) {
    key.push_back(static_cast<char>(c & 0xff));
    key.push_back(static_cast<char>((c >> 8) & 0xff));
  }
  key.push_back('|');
}

std::string row_locator(const Route& route, const std::vector<std::size_t>& where_columns, std::size_t first_param) {
  std::vector<std::string> terms;
  std::size_t param = first_param;
  for (const auto i : where_columns) {
    const auto col = pq::quote_ident(route.columns.at(i));
    if (route.full_identity) {
      const bool as_text = i < route.compare_as_text.size() && route.compare_as_text[i];
      terms.push_back(fmt::format("{}{} IS NOT DISTINCT FROM ${}", col, as_text ? "::text" : "", param++));
    } else {
      terms.push_back(fmt::format("{} = ${}", col, param++));
    }
  }
  if (!route.full_identity) return fmt::format("{}", fmt::join(terms, " AND "));
  // Duplicate rows are possible without a key: change exactly one of them, as the source did. A
  // ctid is unique only within one table, so on a partitioned or inheritance target the row is
  // named by (tableoid, ctid); the planner still makes it a TID scan of each partition.
  return fmt::format("(tableoid, ctid) = (SELECT tableoid, ctid FROM {} WHERE {} LIMIT 1)", target_name(route),
                     terms.empty() ? std::string("true") : fmt::format("{}", fmt::join(terms, " AND ")));
}

std::string insert_sql(const Route& route, const std::vector<std::size_t>& columns) {
  std::vector<std::string> names;
  std::vector<std::string> placeholders;
  for (std::size_t p = 0; p < columns.size(); ++p) {
    names.push_back(pq::quote_ident(route.columns.at(columns[p])));
    placeholders.push_back(fmt::format("${}", p + 1));
  }
  // OVERRIDING SYSTEM VALUE: a GENERATED ALWAYS identity column takes the source's value (it is a
  // no-op for tables without one), as PostgreSQL's own apply does.
  return fmt::format("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES ({})", target_name(route),
                     fmt::join(names, ", "), fmt::join(placeholders, ", "));
}

std::string update_sql(const Route& route, const std::vector<std::size_t>& set_columns,
                       const std::vector<std::size_t>& where_columns) {
  std::vector<std::string> sets;
  for (std::size_t p = 0; p < set_columns.size(); ++p) {
    sets.push_back(fmt::format("{} = ${}", pq::quote_ident(route.columns.at(set_columns[p])), p + 1));
  }
  return fmt::format("UPDATE {} SET {} WHERE {}", target_name(route), fmt::join(sets, ", "),
                     row_locator(route, where_columns, set_columns.size() + 1));
}

std::string delete_sql(const Route& route, const std::vector<std::size_t>& where_columns) {
  return fmt::format("DELETE FROM {} WHERE {}", target_name(route), row_locator(route, where_columns, 1));
}

}  // namespace crmsync::sink::postgres
