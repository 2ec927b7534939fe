#pragma once
// Does the publication still carry every change of source.tables? It may have been created by
// hand or edited since (ALTER PUBLICATION ... SET (publish = ...), a row filter, a column list, a
// table dropped from it or added to it): any of those loses or misroutes changes silently, so
// `run` checks at every start and refuses with the statement that fixes it.

#include <string>
#include <vector>

#include "config/pipeline_config.hpp"
#include "core/result.hpp"
#include "pq/connection.hpp"

namespace crmsync::cdc {

/// Problems with `publication` for `tables`, each a sentence with the fix; empty when it
/// publishes insert, update, delete and truncate of exactly these tables, whole rows, without row
/// filters, via the partition root.
Result<std::vector<std::string>> publication_problems(pq::Connection& conn, const std::string& publication,
                                                      const std::vector<config::TableName>& tables);

}  // namespace crmsync::cdc
