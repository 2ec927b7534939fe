#include "cdc/snapshot.hpp"

#include <fmt/format.h>

namespace crmsync::cdc {

SnapshotSession::SnapshotSession(pq::Connection conn, std::string snapshot_name)
    : conn_(std::move(conn)), snapshot_name_(std::move(snapshot_name)) {}

Status SnapshotSession::start(bool export_snapshot) {
  if (in_transaction_) return Error{ErrorCode::Internal, "snapshot session: a transaction is already open"};
  auto begun = conn_.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  if (!begun) return begun.take_error();
  in_transaction_ = true;
  if (export_snapshot) {
    // One statement: the transaction's snapshot is taken before it runs, so the insert position
    // read inside it is past every commit record the snapshot sees.
    auto exported = conn_.exec("SELECT pg_export_snapshot(), pg_current_wal_insert_lsn()::text");
    if (!exported) return exported.take_error();
    snapshot_name_ = std::string(exported->get(0, 0));
    auto lsn = Lsn::parse(exported->get(0, 1));
    if (!lsn) return lsn.take_error();
    taken_at_ = *lsn;
  } else {
    auto set = conn_.exec(fmt::format("SET TRANSACTION SNAPSHOT {}", pq::quote_literal(snapshot_name_)));
    if (!set) return set.take_error();
  }
  if (xid_snapshot_.empty()) {
    auto xids = conn_.exec("SELECT pg_current_snapshot()::text");
    if (!xids) return xids.take_error();
    xid_snapshot_ = std::string(xids->get(0, 0));
  }
  return {};
}

Status SnapshotSession::begin() {
  return start(false);
}

Status SnapshotSession::end() {
  if (!in_transaction_) return {};
  in_transaction_ = false;
  auto done = conn_.exec("COMMIT");
  if (!done) return done.take_error();
  return {};
}

Result<SnapshotSession> SnapshotSession::attach(const pq::ConnectOptions& source, const std::string& snapshot_name) {
  auto conn = pq::Connection::connect(source);
  if (!conn) return conn.take_error();
  return SnapshotSession(std::move(conn).value(), snapshot_name);
}

Result<SnapshotSession> SnapshotSession::import(const pq::ConnectOptions& source, const std::string& snapshot_name) {
  auto session = attach(source, snapshot_name);
  if (!session) return session.take_error();
  if (auto ok = session->begin(); !ok) return ok.take_error();
  return std::move(session).value();
}

Result<SnapshotSession> SnapshotSession::begin_exported(const pq::ConnectOptions& source) {
  auto conn = pq::Connection::connect(source);
  if (!conn) return conn.take_error();
  SnapshotSession session(std::move(conn).value(), "");
  if (auto ok = session.start(true); !ok) return ok.take_error();
  return session;
}

}  // namespace crmsync::cdc
