#pragma once
// Catalog reads shared by the source preflight/copy and the target checks.

#include <optional>
#include <string>

#include "core/result.hpp"
#include "core/table.hpp"
#include "pq/connection.hpp"

namespace crmsync::pq {

/// The table's columns (in attnum order, dropped columns skipped), key and replica identity.
/// std::nullopt when no ordinary or partitioned table has that (exact, case-sensitive) name.
Result<std::optional<TableInfo>> read_table(Connection& conn, const std::string& schema, const std::string& table);

/// current_setting(name), or the error.
Result<std::string> read_setting(Connection& conn, const std::string& name);

}  // namespace crmsync::pq
