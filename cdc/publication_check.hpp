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

struct PublicationProblem {
  enum class Kind {
    Gone,          // the publication does not exist
    TableMissing,  // a table of source.tables is not in it (a first run adds it)
    Other,         // operations, filters, column lists, extra tables, schemas, partition root
  };
  Kind kind = Kind::Other;
  std::string text;  // a sentence with the statement that fixes it
};

/// Problems with `publication` for `tables`; empty when it publishes insert, update, delete and
/// truncate of exactly these tables, whole rows, via the partition root, with a row filter on
/// exactly the tables `filters` names (whether it is the same filter is checked against the
/// checkpoint's record: daemon/row_filter_record.hpp).
Result<std::vector<PublicationProblem>> publication_problems(pq::Connection& conn, const std::string& publication,
                                                             const std::vector<config::TableName>& tables,
                                                             const config::RowFilters& filters);

}  // namespace crmsync::cdc
