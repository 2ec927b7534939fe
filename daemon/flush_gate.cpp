#include "daemon/flush_gate.hpp"

#include <fmt/format.h>

namespace crmsync::daemon {
namespace {

// The xid makes the statement's implicit transaction write a commit record, and the session's
// synchronous_commit = on makes that commit flush the WAL up to it (everything before included).
constexpr const char* kForceSql = "SELECT pg_current_xact_id()::text, pg_postmaster_start_time()::text";

Result<std::string> instance_of(pq::Connection& conn) {
  auto res = conn.exec("SELECT pg_postmaster_start_time()::text");
  if (!res) return res.take_error();
  return std::string(res->get(0, 0));
}

}  // namespace

Result<std::unique_ptr<FlushGate>> FlushGate::open(pq::ConnectOptions target, pq::Connection& apply_session) {
  auto instance = instance_of(apply_session);
  if (!instance) return instance.take_error();
  return std::unique_ptr<FlushGate>(new FlushGate(std::move(target), std::move(instance).value()));
}

FlushGate::FlushGate(pq::ConnectOptions target, std::string instance)
    : options_(std::move(target)), instance_(std::move(instance)) {}

Result<pq::Connection*> FlushGate::session() {
  if (conn_ && conn_->ok()) return &*conn_;
  conn_.reset();
  auto conn = pq::Connection::connect(options_);
  if (!conn) return conn.take_error();
  if (auto on = conn->exec("SET synchronous_commit = on"); !on) return on.take_error();
  conn_ = std::move(conn).value();
  return &*conn_;
}

Status FlushGate::same_instance(std::string_view started) {
  if (started == instance_) return {};
  waiting_.clear();
  return Error{ErrorCode::ConnectionFailed,
               fmt::format("the target server restarted since the apply session connected (started {}, was {}); "
                           "its unflushed commits may be lost, so no position is confirmed until apply reconnects",
                           started, instance_)};
}

Result<std::optional<Lsn>> FlushGate::durable(Lsn committed) {
  auto conn = session();
  if (!conn) return conn.take_error();
  auto res = (*conn)->exec(
      "SELECT pg_current_wal_insert_lsn()::text, pg_current_wal_flush_lsn()::text, "
      "pg_postmaster_start_time()::text");
  if (!res) {
    conn_.reset();
    return res.take_error();
  }
  if (auto ok = same_instance(res->get(0, 2)); !ok) return ok.take_error();
  auto inserted = Lsn::parse(res->get(0, 0));
  auto flushed = Lsn::parse(res->get(0, 1));
  if (!inserted) return inserted.take_error();
  if (!flushed) return flushed.take_error();
  if (waiting_.empty() || waiting_.back().first < committed) waiting_.emplace_back(committed, *inserted);
  std::optional<Lsn> out;
  while (!waiting_.empty() && waiting_.front().second <= *flushed) {
    out = waiting_.front().first;
    waiting_.pop_front();
  }
  return out;
}

Result<std::optional<Lsn>> FlushGate::force(Lsn committed) {
  auto conn = session();
  if (!conn) return conn.take_error();
  auto res = (*conn)->exec(kForceSql);
  if (!res) {
    conn_.reset();
    return res.take_error();
  }
  if (auto ok = same_instance(res->get(0, 1)); !ok) return ok.take_error();
  waiting_.clear();  // all of them are durable now
  return std::optional<Lsn>(committed);
}

Status force_target_flush(pq::Connection& target) {
  // PQexec runs the statements in one transaction and answers with the last (COMMIT)'s result.
  auto res = target.exec("BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_current_xact_id(); COMMIT");
  if (!res) return res.take_error();
  return {};
}

}  // namespace crmsync::daemon
