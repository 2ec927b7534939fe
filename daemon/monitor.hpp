#pragma once
// The monitor: two threads of their own (one for the sessions, one that does no I/O for the
// pings, so a slow server never delays them) that watch the pipeline from outside the data path and keeps
// the telemetry board (telemetry/board.hpp) current, for /status, /metrics and systemd.
//
// - every second: the rates, systemd's STATUS= line, and the watchdog (WATCHDOG=1 when the unit
//   sets WatchdogSec=): while streaming it pings only if the apply loop has made progress within
//   half the watchdog interval (an apply blocked on a target lock stops the pings, so systemd
//   restarts it; an idle stream keeps ticking); in other phases it pings while the process runs;
// - every source.heartbeat_s while streaming: a non-transactional logical message on the source,
//   whose arrival measures the lag end to end;
// - every 5 s: the slot (retained WAL, wal_status, safe_wal_size) and the source's WAL position,
//   with the slot-safety warnings; a slot that is lost stops the pipeline for good (exit 65) with
//   how to recover;
// - every 2 s: the dead letters by table, on the target (and whether it answers).
// - on SIGHUP: the config reload (daemon/reload.hpp).
// Its sessions are its own ("crmsync monitor"); a server that is down is retried on the next tick.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "config/pipeline_config.hpp"
#include "daemon/reload.hpp"
#include "pq/connection.hpp"

namespace crmsync::daemon {

class Monitor {
 public:
  /// `reloader`: what SIGHUP runs (on the session thread); may be nullptr.
  Monitor(const config::PipelineConfig& cfg, Reloader* reloader);
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

 private:
  void run();   // the sessions: slot, heartbeat, dead letters
  void ping();  // no I/O but sd_notify: rates, STATUS=, the watchdog
  void tick_watchdog();
  void check_slot();
  void send_heartbeat();
  void count_dead_letters();
  pq::Connection* session(std::optional<pq::Connection>& slot, const std::string& dsn, int timeout_s);
  pq::Connection* source();
  pq::Connection* target();

  const config::PipelineConfig& cfg_;
  Reloader* reloader_;
  std::optional<pq::Connection> source_;
  std::optional<pq::Connection> target_;
  std::chrono::microseconds watchdog_{0};  // 0: no watchdog
  bool heartbeat_refused_ = false;
  std::string last_wal_status_;
  bool warned_over_ = false;
  std::chrono::steady_clock::time_point last_over_warning_{};
  bool stopping_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
  std::thread pinger_;
};

}  // namespace crmsync::daemon
