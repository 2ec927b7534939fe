#pragma once
// Row filters (a mapping's `where`) pushed to the source: PostgreSQL 15 publication row filters for
// the stream, and the same expression, as the publication holds it, in the copy's query, so that
// both phases let exactly the same rows through. PostgreSQL applies a filter to the old and the
// new row of an UPDATE: a row moving out of it arrives as a DELETE, one moving in as an INSERT.

#include <map>
#include <string>

#include "config/pipeline_config.hpp"
#include "core/result.hpp"
#include "pq/connection.hpp"

namespace crmsync::cdc {

/// A FOR TABLE list entry: the quoted table, with ` WHERE (expr)` when it has a filter.
std::string publication_entry(const config::TableName& table, const config::RowFilters& filters);

/// The publication's row filters as the source deparses them (pg_get_expr), by table.
Result<config::RowFilters> published_row_filters(pq::Connection& conn, const std::string& publication);

/// The config's filters as the source would deparse them, from a scratch publication created and
/// rolled back in one transaction (the connection must be outside a transaction block): what an
/// existing publication's filters must equal.
Result<config::RowFilters> deparsed_row_filters(pq::Connection& conn, const config::RowFilters& filters);

/// Refuses a row filter that uses a column outside its table's replica identity: PostgreSQL would
/// then reject every UPDATE and DELETE of that table on the source (the legacy CRM's own writes).
/// Run inside the transaction that creates or alters the publication, so a refusal leaves the
/// source as it was.
Status check_filter_columns(pq::Connection& conn, const std::string& publication);

}  // namespace crmsync::cdc
