#pragma once
// SQL for writing many rows of one table with one statement: every column travels as one text[]
// parameter and unnest() turns the arrays back into rows, each value cast to the target column's
// type (without typmod, so the assignment still checks lengths the way a single-row statement
// does). Used for the net changes of a ChangeBuffer, whose keys are distinct within a statement.

#include <cstddef>
#include <string>
#include <vector>

#include "core/value.hpp"
#include "sink/postgres/route.hpp"

namespace crmsync::sink::postgres {

/// A one-dimensional text[] literal: every element quoted and escaped, SQL NULL as NULL.
std::string text_array(const std::vector<const Value*>& values);

/// DELETE FROM t USING unnest($1::text[], ...) u(...) WHERE t.key = u.c0::type AND ...
/// Parameters: one array per key column, in route.key order.
std::string multirow_delete_sql(const Route& route);

/// UPDATE t SET col = u.cN::type, ... FROM unnest(...) WHERE t.key = ...
/// Parameters: the key columns (route.key order), then `set_columns` (source column indexes).
std::string multirow_update_sql(const Route& route, const std::vector<std::size_t>& set_columns);

/// INSERT INTO t (cols) SELECT u.c0::type, ... FROM unnest(...)
/// Parameters: `columns` (source column indexes) in order.
std::string multirow_insert_sql(const Route& route, const std::vector<std::size_t>& columns);

}  // namespace crmsync::sink::postgres
