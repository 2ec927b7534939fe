#pragma once
// A source connection that reads at one snapshot: what every copy worker reads through. Either
// imports a snapshot exported by CREATE_REPLICATION_SLOT (first run) or takes and exports a fresh
// one (resume; see cdc/README.md for why that is still exact).
//
// An importing session can end its transaction and begin another at the same snapshot for as
// long as the exporter lives: copy workers do that per chunk, so that between chunks they hold no
// lock on any source table (a legacy TRUNCATE or ALTER TABLE waits at most one chunk).

#include <string>

#include "core/lsn.hpp"
#include "core/result.hpp"
#include "pq/connection.hpp"

namespace crmsync::cdc {

class SnapshotSession {
 public:
  /// Connects and begins a transaction at the exported snapshot `snapshot_name`
  /// (BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '<name>').
  static Result<SnapshotSession> import(const pq::ConnectOptions& source, const std::string& snapshot_name);
  /// Connects without beginning a transaction: call begin() before reading.
  static Result<SnapshotSession> attach(const pq::ConnectOptions& source, const std::string& snapshot_name);
  /// BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT pg_export_snapshot(). The snapshot
  /// can be imported by other sessions while this one stays open. It reads no table, so it holds
  /// no table lock.
  static Result<SnapshotSession> begin_exported(const pq::ConnectOptions& source);

  /// A new transaction at the snapshot (importing sessions only; no transaction may be open).
  Status begin();
  /// Ends the current transaction, releasing its locks.
  Status end();

  /// The exported snapshot's name (what other sessions import).
  [[nodiscard]] const std::string& snapshot_name() const { return snapshot_name_; }
  /// pg_current_snapshot() of this snapshot as text: "xmin:xmax:xip,...". A committed source
  /// transaction is visible in it iff its xid < xmax and is not in the xip list. Known after the
  /// first begin().
  [[nodiscard]] const std::string& xid_snapshot() const { return xid_snapshot_; }
  /// Exporting sessions: the source's WAL insert position just after the snapshot was taken. A
  /// transaction whose commit record is at or past it is not in the snapshot.
  [[nodiscard]] Lsn taken_at() const { return taken_at_; }
  pq::Connection& connection() { return conn_; }

 private:
  SnapshotSession(pq::Connection conn, std::string snapshot_name);
  Status start(bool export_snapshot);
  pq::Connection conn_;
  std::string snapshot_name_;
  std::string xid_snapshot_;
  Lsn taken_at_{};
  bool in_transaction_ = false;
};

}  // namespace crmsync::cdc
