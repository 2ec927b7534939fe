#include "daemon/hold.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include "sink/postgres/copy_sink.hpp"

namespace crmsync::daemon {

HoldWatcher::HoldWatcher(pq::ConnectOptions target, std::string pipeline, HoldSignal& signal)
    : target_(std::move(target)), pipeline_(std::move(pipeline)), signal_(signal), thread_([this] { run(); }) {}

HoldWatcher::~HoldWatcher() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void HoldWatcher::run() {
  std::optional<pq::Connection> conn;
  auto failed_at = std::chrono::steady_clock::time_point{};
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stop_) return;
    }
    if (!conn && std::chrono::steady_clock::now() - failed_at > std::chrono::seconds(5)) {
      auto c = pq::Connection::connect(target_);
      if (c && c->exec("LISTEN crmsync_hold")) {
        conn = std::move(c).value();
      } else {
        failed_at = std::chrono::steady_clock::now();
        spdlog::debug("hold watcher: {}", c ? "LISTEN failed" : c.error().message);
      }
    }
    if (conn && !poll_once(*conn)) {
      conn.reset();
      failed_at = std::chrono::steady_clock::now();
    }
    if (!conn && signal_.request.load() != 0) {
      // No way to hear the release: go on. verify sees from the target's position that the
      // stream moved past its snapshot and says so; it never compares at the wrong position.
      signal_.request = 0;
      signal_.until = 0;
    }
    wait(conn ? &*conn : nullptr,
         signal_.request.load() != 0 ? std::chrono::milliseconds(5) : std::chrono::milliseconds(1000));
  }
}

bool HoldWatcher::poll_once(pq::Connection& conn) {
  auto stop = conn.exec_params(
      fmt::format("SELECT stop_at::text FROM {}.stop_requests WHERE pipeline = $1", sink::postgres::kStateSchema),
      {pipeline_});
  if (!stop && !conn.ok()) return false;
  std::uint64_t stop_at = 0;
  if (stop && stop->rows() > 0) {
    if (auto lsn = Lsn::parse(stop->get(0, 0))) stop_at = lsn->value();
  }
  if (stop_at != 0 && signal_.stop_at.load() == 0) {
    spdlog::info("stream: crmsync cutover asks to stop once its marker at {} is applied", Lsn{stop_at});
  }
  signal_.stop_at = stop_at;
  auto res =
      conn.exec_params(fmt::format("SELECT (extract(epoch FROM requested_at) * 1000000)::bigint, at_lsn::text, holder, "
                                   "requested_at > clock_timestamp() - interval '10 minutes' AND EXISTS (SELECT 1 FROM "
                                   "pg_stat_activity a WHERE a.pid = h.holder) FROM {}.holds h WHERE pipeline = $1",
                                   sink::postgres::kStateSchema),
                       {pipeline_});
  if (!res) {
    if (!conn.ok()) return false;
    signal_.request = 0;  // no holds table (yet): nobody can hold us
    return true;
  }
  const auto previous = signal_.request.load();
  if (res->rows() == 0 || res->get(0, 3) != "t") {
    if (previous != 0) spdlog::info("stream: the hold for crmsync verify is over; applying on");
    signal_.request = 0;
    signal_.until = 0;
    return true;
  }
  const auto id = std::stoll(std::string(res->get(0, 0)));
  std::uint64_t until = 0;
  if (!res->is_null(0, 1)) {
    if (auto lsn = Lsn::parse(res->get(0, 1))) until = lsn->value();
  }
  if (id != previous) {
    spdlog::info("stream: crmsync verify (target session {}) holds the stream at a source position", res->get(0, 2));
  }
  signal_.until = until;
  signal_.request = id;
  const auto report = [&](const char* column, std::uint64_t at) {
    return conn.exec_params(fmt::format("UPDATE {}.holds SET {} = $2::pg_lsn WHERE pipeline = $1 AND "
                                        "(extract(epoch FROM requested_at) * 1000000)::bigint = $3::bigint",
                                        sink::postgres::kStateSchema, column),
                            {pipeline_, Lsn{at}.to_string(), std::to_string(id)});
  };
  if (signal_.paused_for.load() == id && reported_paused_ != id) {
    if (!report("paused_lsn", signal_.paused_at.load())) return conn.ok();
    reported_paused_ = id;
  }
  if (signal_.held_for.load() == id && reported_held_ != id) {
    if (!report("held_lsn", signal_.held_at.load())) return conn.ok();
    reported_held_ = id;
  }
  return true;
}

void HoldWatcher::wait(pq::Connection* conn, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stop_) return;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    const auto slice = std::min(left, std::chrono::milliseconds(200));
    if (conn == nullptr) {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, slice, [this] { return stop_; });
      continue;
    }
    pollfd pfd{.fd = PQsocket(conn->raw()), .events = POLLIN, .revents = 0};
    if (::poll(&pfd, 1, static_cast<int>(slice.count())) <= 0) continue;
    if (PQconsumeInput(conn->raw()) == 0) return;  // the next query finds the connection broken
    bool notified = false;
    while (PGnotify* n = PQnotifies(conn->raw())) {
      notified = true;
      PQfreemem(n);
    }
    if (notified) return;
  }
}

}  // namespace crmsync::daemon
