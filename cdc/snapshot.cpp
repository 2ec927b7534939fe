#include "cdc/snapshot.hpp"

#include <fmt/format.h>

namespace crmsync::cdc {

SnapshotSession::SnapshotSession(pq::Connection conn, std::string snapshot_name, std::string xid_snapshot)
    : conn_(std::move(conn)), snapshot_name_(std::move(snapshot_name)), xid_snapshot_(std::move(xid_snapshot)) {}

Result<SnapshotSession> SnapshotSession::start(pq::Connection conn, const std::string& import_name) {
  auto begun = conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  if (!begun) {
    return begun.take_error();
  }
  std::string name = import_name;
  if (!import_name.empty()) {
    auto set = conn.exec(fmt::format("SET TRANSACTION SNAPSHOT {}", pq::quote_literal(import_name)));
    if (!set) {
      return set.take_error();
    }
  } else {
    auto exported = conn.exec("SELECT pg_export_snapshot()");
    if (!exported) {
      return exported.take_error();
    }
    name = std::string(exported->get(0, 0));
  }
  auto xids = conn.exec("SELECT pg_current_snapshot()::text");
  if (!xids) {
    return xids.take_error();
  }
  std::string xid_text(xids->get(0, 0));
  return SnapshotSession(std::move(conn), std::move(name), std::move(xid_text));
}

Result<SnapshotSession> SnapshotSession::import(const pq::ConnectOptions& source, const std::string& snapshot_name) {
  auto conn = pq::Connection::connect(source);
  if (!conn) {
    return conn.take_error();
  }
  return start(std::move(conn).value(), snapshot_name);
}

Result<SnapshotSession> SnapshotSession::begin_exported(const pq::ConnectOptions& source) {
  auto conn = pq::Connection::connect(source);
  if (!conn) {
    return conn.take_error();
  }
  return start(std::move(conn).value(), "");
}

}  // namespace crmsync::cdc
