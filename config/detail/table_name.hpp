#pragma once
// Internal: "table", "schema.table", and double-quoted parts for names that are not plain
// lowercase identifiers: "My Schema"."Order Lines".

#include <optional>
#include <string>
#include <string_view>

#include "config/detail/reader.hpp"
#include "config/pipeline_config.hpp"

namespace crmsync::config::detail {

struct ParsedTableName {
  std::optional<TableName> name;  // schema defaults to "public"
  std::string problem;            // set when name is not; never quotes the text back
};

/// Unquoted parts follow PostgreSQL's unquoted-identifier rules ([a-z_][a-z0-9_$]*). Uppercase is
/// refused rather than folded: PostgreSQL would fold Contacts to contacts, a reader of the YAML
/// might expect "Contacts", and guessing either way can silently copy the wrong table. Quoted
/// parts keep their text exactly ("" inside quotes is one "); every part is at most 63 bytes.
ParsedTableName parse_table_name(std::string_view text);

/// A table name in the config with where it was written, for cross-checks between mappings.
struct LocatedTable {
  TableName name;
  std::string path;
  Pos pos;
  std::string shown;  // for messages: schema.table, or the raw text if it was interpolated
};

std::optional<LocatedTable> read_table(Context& ctx, const Value& v);

}  // namespace crmsync::config::detail
