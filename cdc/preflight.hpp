#pragma once
// Source preflight for `crmsync check`: can this PostgreSQL server feed a logical replication
// pipeline for these tables, as this user, right now?

#include <map>

#include "config/pipeline_config.hpp"
#include "core/check.hpp"
#include "core/table.hpp"

namespace crmsync::cdc {

struct SourcePreflight {
  CheckReport report;
  /// Catalog facts of every configured table that exists on the source (for the target checks).
  std::map<config::TableName, TableInfo> tables;
};

/// Connects with cfg.source (one ordinary connection, closed on return) and runs every check.
/// Never throws on server trouble: an unreachable server is a failed "connect" item.
SourcePreflight preflight_source(const config::PipelineConfig& cfg);

}  // namespace crmsync::cdc
