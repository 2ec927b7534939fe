#include "sink/postgres/multirow.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "pq/connection.hpp"

namespace crmsync::sink::postgres {
namespace {

std::string unnest_from(std::size_t n) {
  std::vector<std::string> arrays;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < n; ++i) {
    arrays.push_back(fmt::format("${}::text[]", i + 1));
    names.push_back(fmt::format("c{}", i));
  }
  return fmt::format("unnest({}) AS u({})", fmt::join(arrays, ", "), fmt::join(names, ", "));
}

std::string cast(const Route& route, std::size_t param, std::size_t column) {
  return fmt::format("u.c{}::{}", param, route.cast_types.at(column));
}

std::string key_match(const Route& route) {
  std::vector<std::string> terms;
  for (std::size_t p = 0; p < route.key.size(); ++p) {
    const auto col = route.key[p];
    terms.push_back(fmt::format("t.{} = {}", pq::quote_ident(route.columns.at(col)), cast(route, p, col)));
  }
  return fmt::format("{}", fmt::join(terms, " AND "));
}

}  // namespace

std::string text_array(const std::vector<const Value*>& values) {
  std::string out = "{";
  std::size_t size = 2;
  for (const auto* v : values) size += v->text.size() + 3;
  out.reserve(size);
  bool first = true;
  for (const auto* v : values) {
    if (!first) out += ',';
    first = false;
    if (v->is_null()) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (char c : v->text) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string multirow_delete_sql(const Route& route) {
  return fmt::format("DELETE FROM {} AS t USING {} WHERE {}", pq::quote_qualified(route.schema, route.table),
                     unnest_from(route.key.size()), key_match(route));
}

std::string multirow_update_sql(const Route& route, const std::vector<std::size_t>& set_columns) {
  std::vector<std::string> sets;
  for (std::size_t i = 0; i < set_columns.size(); ++i) {
    const auto col = set_columns[i];
    sets.push_back(
        fmt::format("{} = {}", pq::quote_ident(route.columns.at(col)), cast(route, route.key.size() + i, col)));
  }
  return fmt::format("UPDATE {} AS t SET {} FROM {} WHERE {}", pq::quote_qualified(route.schema, route.table),
                     fmt::join(sets, ", "), unnest_from(route.key.size() + set_columns.size()), key_match(route));
}

std::string multirow_insert_sql(const Route& route, const std::vector<std::size_t>& columns) {
  std::vector<std::string> names;
  std::vector<std::string> values;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    names.push_back(pq::quote_ident(route.columns.at(columns[i])));
    values.push_back(cast(route, i, columns[i]));
  }
  return fmt::format("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {}",
                     pq::quote_qualified(route.schema, route.table), fmt::join(names, ", "), fmt::join(values, ", "),
                     unnest_from(columns.size()));
}

}  // namespace crmsync::sink::postgres
