#include "daemon/lookups.hpp"

#include <fmt/format.h>

#include "pq/catalog.hpp"

namespace crmsync::daemon {

Result<std::optional<std::optional<std::string>>> TargetLookups::find(const config::Lookup& lookup,
                                                                      const std::string& value) {
  auto key = std::make_tuple(lookup.table.qualified(), lookup.match, lookup.take, value);
  if (const auto it = cache_.find(key); it != cache_.end())
    return std::optional<std::optional<std::string>>{it->second};
  auto conn = connection_();
  if (!conn) return conn.take_error();
  ++queries_;
  // Compared as text: the legacy key arrives as text, and the parent's match column may be of
  // another type (integer ids, uuids); LIMIT 2 tells a non-unique match from a unique one.
  auto res = (*conn)->exec_params(
      fmt::format("SELECT {}::text FROM {} WHERE {}::text = $1 LIMIT 2", pq::quote_ident(lookup.take),
                  pq::quote_qualified(lookup.table.schema, lookup.table.table), pq::quote_ident(lookup.match)),
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
