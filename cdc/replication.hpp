#pragma once
// Replication-protocol commands on a `replication=database` connection, and the slot and
// publication management around them.

#include <optional>
#include <string>
#include <vector>

#include "config/pipeline_config.hpp"
#include "core/lsn.hpp"
#include "core/result.hpp"
#include "pq/connection.hpp"

namespace crmsync::cdc {

struct SystemIdentity {
  std::string system_identifier;  // decimal text: 64-bit, unique per initdb
  std::uint32_t timeline = 0;
  Lsn xlogpos;
};

/// IDENTIFY_SYSTEM (replication connection).
Result<SystemIdentity> identify_system(pq::Connection& repl);

struct CreatedSlot {
  std::string name;
  Lsn consistent_point;  // the stream starts here; the exported snapshot sees exactly what precedes it
  std::string snapshot;  // valid only while `repl` stays open and runs no other command
};

enum class SlotLifetime { Persistent, Temporary };

/// CREATE_REPLICATION_SLOT <slot> [TEMPORARY] LOGICAL pgoutput (SNAPSHOT 'export') (replication
/// connection). A temporary slot goes with the connection: `crmsync verify` uses one for a source
/// snapshot whose position (the consistent point) is known exactly.
Result<CreatedSlot> create_slot_exporting_snapshot(pq::Connection& repl, const std::string& slot,
                                                   SlotLifetime lifetime = SlotLifetime::Persistent);

struct SlotInfo {
  std::string plugin;
  std::string database;
  std::optional<Lsn> confirmed_flush;
  bool active = false;
  std::string wal_status;  // reserved, extended, unreserved, lost (empty: not reported)
};

/// The slot's row in pg_replication_slots, or nullopt (ordinary connection).
Result<std::optional<SlotInfo>> find_slot(pq::Connection& conn, const std::string& slot);
Status drop_slot(pq::Connection& conn, const std::string& slot);

/// Creates the publication FOR TABLE the given tables (publish_via_partition_root, so partitioned
/// tables arrive under their root's name), or adds the missing tables to an existing one; a table
/// with a row filter (a mapping's `where`) gets it, refused when it reads columns outside the
/// table's replica identity (cdc/row_filter.hpp).
Status ensure_publication(pq::Connection& conn, const std::string& publication,
                          const std::vector<config::TableName>& tables, const config::RowFilters& filters);
Status drop_publication(pq::Connection& conn, const std::string& publication);

}  // namespace crmsync::cdc
