#pragma once
// Which source column goes to which target column, for one table. Pure: no I/O.

#include <string>
#include <vector>

#include "config/pipeline_config.hpp"
#include "core/table.hpp"

namespace crmsync::mapping {

struct ColumnPair {
  std::string source;
  std::string target;
};

struct TablePlan {
  config::TableName source;
  config::TableName target;
  std::vector<ColumnPair> columns;  // in source column order
  /// Columns the mapping names that the source table does not have (a config mistake).
  std::vector<std::string> unknown_source_columns;
};

/// With no mapping (nullptr) a table maps to itself, column for column. With a mapping, mapped
/// columns are renamed, excluded ones dropped, and the rest keep their names. Generated source
/// columns are never copied: the target computes its own.
TablePlan plan_table(const config::TableName& source_name, const TableInfo& source, const config::Mapping* mapping);

}  // namespace crmsync::mapping

namespace crmsync::mapping {

/// A target column and the constant every row of one pipeline carries in it.
struct OwnedBy {
  std::string column;
  std::string value;
};
/// The rows of its target table a pipeline owns under `mapping`: the `key` columns that are
/// `add: {constant}` columns, with their values. Empty (no mapping, no key, or no constant in it):
/// the pipeline owns the whole table.
std::vector<OwnedBy> owned_rows(const config::Mapping* mapping);

}  // namespace crmsync::mapping
