#include "daemon/lookups.hpp"

#include <fmt/format.h>

#include <charconv>
#include <limits>

#include "pq/catalog.hpp"

namespace crmsync::daemon {
namespace {

// Whether `value` is an integer that fits the integer type `type`: then it may be compared with
// the column as that type, which uses its index (a value that does not fit cannot be equal).
bool fits(const std::string& type, const std::string& value) {
  std::int64_t v = 0;
  const auto* end = value.data() + value.size();
  const auto [ptr, ec] = std::from_chars(value.data(), end, v);
  if (ec != std::errc{} || ptr != end) return false;
  if (type == "smallint")
    return v >= std::numeric_limits<std::int16_t>::min() && v <= std::numeric_limits<std::int16_t>::max();
  if (type == "integer")
    return v >= std::numeric_limits<std::int32_t>::min() && v <= std::numeric_limits<std::int32_t>::max();
  return true;
}

}  // namespace

Result<TargetLookups::Match> TargetLookups::match_of(pq::Connection& conn, const config::Lookup& lookup) {
  const auto key = std::make_pair(lookup.table.qualified(), lookup.match);
  if (const auto it = matches_.find(key); it != matches_.end()) return it->second;
  auto res = conn.exec_params(
      "SELECT format_type(a.atttypid, NULL), t.typcategory::text FROM pg_attribute a JOIN pg_type t ON t.oid = "
      "a.atttypid WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped",
      {pq::quote_qualified(lookup.table.schema, lookup.table.table), lookup.match});
  if (!res) return res.take_error();
  if (res->rows() == 0) {
    return Error{ErrorCode::StateMismatch,
                 fmt::format("lookup: the target has no column {}.{}", lookup.table.qualified(), lookup.match)};
  }
  Match m;
  m.type = std::string(res->get(0, 0));
  const auto category = res->get(0, 1);
  m.kind = category == "S"                                                       ? Match::Kind::Text
           : (m.type == "smallint" || m.type == "integer" || m.type == "bigint") ? Match::Kind::Integer
                                                                                 : Match::Kind::AsText;
  matches_.emplace(key, m);
  return m;
}

Result<std::optional<std::optional<std::string>>> TargetLookups::find(const config::Lookup& lookup,
                                                                      const std::string& value) {
  auto key = std::make_tuple(lookup.table.qualified(), lookup.match, lookup.take, value);
  if (const auto it = cache_.find(key); it != cache_.end())
    return std::optional<std::optional<std::string>>{it->second};
  auto conn = connection_();
  if (!conn) return conn.take_error();
  auto match = match_of(**conn, lookup);
  if (!match) return match.take_error();
  // Compared in the match column's own type where that is safe, so its unique index is used; an
  // integer column and a value that is not an integer of its range cannot match at all.
  std::string condition;
  switch (match->kind) {
    case Match::Kind::Text: condition = fmt::format("{} = $1", pq::quote_ident(lookup.match)); break;
    case Match::Kind::Integer:
      if (!fits(match->type, value)) return std::optional<std::optional<std::string>>{};
      condition = fmt::format("{} = $1::{}", pq::quote_ident(lookup.match), match->type);
      break;
    case Match::Kind::AsText: condition = fmt::format("{}::text = $1", pq::quote_ident(lookup.match)); break;
  }
  ++queries_;
  // LIMIT 2 tells a non-unique match from a unique one.
  auto res = (*conn)->exec_params(fmt::format("SELECT {}::text FROM {} WHERE {} LIMIT 2", pq::quote_ident(lookup.take),
                                              pq::quote_qualified(lookup.table.schema, lookup.table.table), condition),
                                  {value});
  if (!res) return res.take_error();
  if (res->rows() == 0) return std::optional<std::optional<std::string>>{};
  if (res->rows() > 1) {
    return Error{ErrorCode::StateMismatch,
                 fmt::format("lookup in {}: more than one row has {} = '{}'; the match column must be unique there",
                             lookup.table.qualified(), lookup.match, value)};
  }
  std::optional<std::string> taken = res->get_opt(0, 0);
  cache_.emplace(std::move(key), taken);
  return std::optional<std::optional<std::string>>{std::move(taken)};
}

}  // namespace crmsync::daemon
