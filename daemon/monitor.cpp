#include "daemon/monitor.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include "daemon/apply_loop.hpp"
#include "daemon/live_settings.hpp"
#include "daemon/observe_queries.hpp"
#include "daemon/pipeline_state.hpp"
#include "daemon/signals.hpp"
#include "telemetry/board.hpp"

namespace crmsync::daemon {
namespace {

using Clock = std::chrono::steady_clock;

pq::ConnectOptions options(const std::string& dsn, int timeout_s) {
  pq::ConnectOptions o;
  o.dsn = dsn;
  o.connect_timeout_s = timeout_s;
  o.application_name = "crmsync monitor";
  return o;
}

}  // namespace

Monitor::Monitor(const config::PipelineConfig& cfg, Reloader* reloader) : cfg_(cfg), reloader_(reloader) {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) watchdog_ = std::chrono::microseconds(usec);
  telemetry::board().set_pipeline(cfg.name, cfg.source.max_retained_wal_bytes);
  thread_ = std::thread([this] { run(); });
  pinger_ = std::thread([this] { ping(); });
}

Monitor::~Monitor() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (pinger_.joinable()) pinger_.join();
}

// The session in `slot`, (re)connected when it is not up; nullptr while the server does not answer.
pq::Connection* Monitor::session(std::optional<pq::Connection>& slot, const std::string& dsn, int timeout_s) {
  if (slot && slot->ok()) return &*slot;
  slot.reset();
  auto c = pq::Connection::connect(options(dsn, timeout_s));
  if (!c) return nullptr;
  slot.emplace(std::move(c).value());
  return &*slot;
}

pq::Connection* Monitor::source() {
  return session(source_, cfg_.source.dsn, cfg_.source.connect_timeout_s);
}

pq::Connection* Monitor::target() {
  return session(target_, cfg_.target.dsn, cfg_.target.connect_timeout_s);
}

void Monitor::ping() {
  // Its own thread: a server that takes connect_timeout_s to refuse must not hold up the pings.
  auto tick = std::chrono::milliseconds(250);
  if (watchdog_.count() > 0) {
    tick = std::min(tick, std::chrono::duration_cast<std::chrono::milliseconds>(watchdog_ / 4));
    tick = std::max(tick, std::chrono::milliseconds(10));
  }
  auto next_second = Clock::now();
  std::string last_status;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      if (wake_.wait_for(lock, tick, [this] { return stopping_; })) return;
    }
    tick_watchdog();
    if (Clock::now() < next_second) continue;
    next_second = Clock::now() + std::chrono::seconds(1);
    auto& board = telemetry::board();
    board.sample_rates();
    if (auto line = board.status_line(); line != last_status) {
      sd_notifyf(0, "STATUS=%s", line.c_str());
      last_status = std::move(line);
    }
  }
}

void Monitor::run() {
  auto next_slot = Clock::now();
  auto next_letters = Clock::now();
  auto next_heartbeat = Clock::now() + std::chrono::seconds(1);
  while (true) {
    {
      std::unique_lock lock(mutex_);
      if (wake_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stopping_; })) return;
    }
    if (take_reload_request() && reloader_ != nullptr) reloader_->reload();
    const auto now = Clock::now();
    if (now >= next_slot) {
      next_slot = now + std::chrono::seconds(5);
      check_slot();
    }
    const int heartbeat_s = live_settings().heartbeat_s.load();
    if (heartbeat_s > 0 && now >= next_heartbeat && telemetry::board().phase() == telemetry::Phase::Streaming) {
      next_heartbeat = now + std::chrono::seconds(heartbeat_s);
      send_heartbeat();
    }
    if (now >= next_letters) {
      next_letters = now + std::chrono::seconds(2);
      count_dead_letters();
    }
  }
}

void Monitor::tick_watchdog() {
  if (watchdog_.count() == 0) return;
  auto& board = telemetry::board();
  // Streaming: only while the apply loop moves. Elsewhere (start-up, the copy, waiting for a
  // server) the process being alive is what there is to watch.
  if (board.phase() == telemetry::Phase::Streaming && Clock::now() - board.last_progress() > watchdog_ / 2) return;
  sd_notify(0, "WATCHDOG=1");
}

void Monitor::check_slot() {
  auto* conn = source();
  telemetry::board().set_source_connected(conn != nullptr);
  if (conn == nullptr) return;
  auto reading = read_slot(*conn, cfg_.source.slot, live_settings().max_retained_wal_bytes.load());
  if (!reading) return;
  telemetry::board().set_source_wal(reading->source_wal);
  auto& slot = reading->slot;
  const bool over = slot.over_limit;
  if (over && (!warned_over_ || Clock::now() - last_over_warning_ > std::chrono::hours(1))) {
    spdlog::warn(
        "slot {}: it retains {} MB of WAL on the source, over source.max_retained_wal ({} MB); the source's disk "
        "fills while the stream is behind{}",
        slot.name, slot.retained_bytes >> 20, live_settings().max_retained_wal_bytes.load() >> 20,
        slot.max_slot_wal_keep_size_mb < 0 ? " (max_slot_wal_keep_size is -1: nothing limits it)" : "");
    last_over_warning_ = Clock::now();
  }
  warned_over_ = over;
  if (slot.wal_status != last_wal_status_) {
    if (slot.wal_status == "unreserved") {
      spdlog::warn(
          "slot {}: wal_status is unreserved: the source retains more than max_slot_wal_keep_size ({} MB) for "
          "it, and its next checkpoint removes WAL the stream still needs unless the stream catches up first",
          slot.name, slot.max_slot_wal_keep_size_mb);
    } else if (slot.wal_status == "lost") {
      spdlog::error("{}", slot_lost_message(cfg_));
      telemetry::board().set_error("slot_lost", slot_lost_message(cfg_));
      request_fatal_stop();
    }
    last_wal_status_ = slot.wal_status;
  }
  telemetry::board().set_slot(std::move(slot));
}

void Monitor::send_heartbeat() {
  if (heartbeat_refused_) return;
  auto* conn = source();
  if (conn == nullptr) return;
  auto& board = telemetry::board();
  const auto seq = board.heartbeat_sending();
  auto res = conn->exec_params("SELECT pg_logical_emit_message(false, $1, $2)",
                               {std::string(kHeartbeatPrefix), fmt::format("{}:{}", cfg_.name, seq)});
  if (res) return;
  board.heartbeat_failed();
  if (res.error().message.find("permission denied") != std::string::npos) {
    heartbeat_refused_ = true;
    spdlog::warn(
        "heartbeat: the source role may not run pg_logical_emit_message ({}); lag is measured from the changes "
        "that arrive only (GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) to it, or set "
        "source.heartbeat_s: 0 to silence this)",
        res.error().message);
    return;
  }
  spdlog::debug("heartbeat: {}", res.error().message);
}

void Monitor::count_dead_letters() {
  auto* conn = target();
  if (conn == nullptr) {
    telemetry::board().set_target_connected(false);
    return;
  }
  auto by_table = read_dead_letters(*conn, cfg_);
  telemetry::board().set_target_connected(conn->ok());
  if (!by_table) return;  // not created yet (no stream session so far)
  telemetry::board().set_dead_letters(std::move(*by_table));
}

}  // namespace crmsync::daemon
