#pragma once
// A source connection inside a REPEATABLE READ transaction pinned to one snapshot: what every copy
// worker reads through. Either imports a snapshot exported by CREATE_REPLICATION_SLOT (first run)
// or takes and exports a fresh one (resume; see cdc/README.md for why that is still exact).

#include <string>

#include "core/result.hpp"
#include "pq/connection.hpp"

namespace crmsync::cdc {

class SnapshotSession {
 public:
  /// BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '<name>'.
  static Result<SnapshotSession> import(const pq::ConnectOptions& source, const std::string& snapshot_name);
  /// BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT pg_export_snapshot(). The snapshot
  /// can be imported by other sessions while this one stays open.
  static Result<SnapshotSession> begin_exported(const pq::ConnectOptions& source);

  /// The exported snapshot's name (what other sessions import).
  [[nodiscard]] const std::string& snapshot_name() const { return snapshot_name_; }
  /// pg_current_snapshot() of this transaction as text: "xmin:xmax:xip,...". A committed source
  /// transaction is visible in it iff its xid < xmax and is not in the xip list.
  [[nodiscard]] const std::string& xid_snapshot() const { return xid_snapshot_; }
  pq::Connection& connection() { return conn_; }

 private:
  SnapshotSession(pq::Connection conn, std::string snapshot_name, std::string xid_snapshot);
  static Result<SnapshotSession> start(pq::Connection conn, const std::string& import_name);
  pq::Connection conn_;
  std::string snapshot_name_;
  std::string xid_snapshot_;
};

}  // namespace crmsync::cdc
