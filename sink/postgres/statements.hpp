#pragma once
// SQL of the single-row apply statements. The Applier prepares one statement per shape (kind,
// table, the columns written, the columns that locate the row) and calls these only for a shape
// it has not prepared yet, so nothing here is on the per-row path.

#include <cstddef>
#include <string>
#include <vector>

#include "sink/postgres/route.hpp"

namespace crmsync::sink::postgres {

/// The number of everything in `route` that statement SQL depends on: equal for routes that
/// would produce the same SQL, different otherwise (process-wide, thread-safe).
std::uint64_t intern_shape(const Route& route);
/// A statement shape's cache key: starts `key` afresh with a kind letter and the route's shape.
void shape_key(std::string& key, char kind, const Route& route);
/// Whether a cache key belongs to routes of shape `shape`.
bool key_has_shape(const std::string& key, std::uint64_t shape);
/// Appends source column indexes (two raw bytes each) and a separator to a shape key.
void shape_key_columns(std::string& key, const std::vector<std::size_t>& columns);

/// INSERT INTO t (cols) VALUES ($1, ...). `columns`: source column indexes, parameters in order.
std::string insert_sql(const Route& route, const std::vector<std::size_t>& columns);

/// UPDATE t SET col = $1, ... WHERE <row>. Parameters: `set_columns`, then `where_columns`.
std::string update_sql(const Route& route, const std::vector<std::size_t>& set_columns,
                       const std::vector<std::size_t>& where_columns);

/// DELETE FROM t WHERE <row>. Parameters: `where_columns`.
std::string delete_sql(const Route& route, const std::vector<std::size_t>& where_columns);

/// <row>, parameters numbered from `first_param`: "key = $n AND ..." for a key, or for REPLICA
/// IDENTITY FULL (route.full_identity) one row via ctid whose every listed column IS NOT DISTINCT
/// FROM the old value (compared as text where the type has no equality operator).
std::string row_locator(const Route& route, const std::vector<std::size_t>& where_columns, std::size_t first_param);

}  // namespace crmsync::sink::postgres
