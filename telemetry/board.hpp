#pragma once
// The Board: what the running daemon shows about itself, in one place. The data path writes
// atomics (positions, the oldest unapplied transaction, liveness) and, at batch granularity, the
// counters of Metrics; the monitor thread and the copy's progress thread write the slower values
// under a mutex. /status (status_json), /readyz (readiness), /metrics (refresh + Metrics) and
// systemd's STATUS= line all read from here, so they never disagree.
//
// Lag in seconds is measured end to end: the age of the oldest source transaction the stream has
// delivered but the target has not committed, and the age of the oldest heartbeat (a
// non-transactional message the monitor writes on the source every source.heartbeat_s) that has
// not come through. An idle source therefore reads as no lag (its heartbeats arrive), and a
// source busy with a transaction the stream has not delivered yet reads as growing lag.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/lsn.hpp"
#include "telemetry/metrics.hpp"

namespace crmsync::telemetry {

enum class Phase { Starting, Copying, Streaming, Stopping, Stopped, Failed };
[[nodiscard]] const char* to_string(Phase p);

struct TableProgress {
  std::string table;
  std::int64_t rows_done = 0;
  std::int64_t rows_total = 0;  // the estimate until done, then the rows copied
  int chunks_done = 0;
  int chunks_total = 0;
  double rows_per_s = 0;
  bool done = false;
};

struct SlotInfo {
  std::string name;
  bool found = false;
  std::int64_t retained_bytes = 0;
  std::string wal_status;                       // reserved, extended, unreserved, lost
  std::optional<std::int64_t> safe_wal_size;    // none: max_slot_wal_keep_size is -1 (unlimited)
  std::int64_t max_slot_wal_keep_size_mb = -1;  // the source's setting
  bool over_limit = false;                      // retained_bytes > source.max_retained_wal
};

struct Readiness {
  bool ready = false;
  std::string reason;  // why not, or what is worth knowing while ready (a slot warning)
};

class Board {
 public:
  using SteadyClock = std::chrono::steady_clock;
  using SystemClock = std::chrono::system_clock;

  Board();
  Metrics& metrics() { return metrics_; }

  void set_pipeline(std::string name, std::int64_t max_retained_wal_bytes);
  void set_phase(Phase p);
  [[nodiscard]] Phase phase() const { return phase_.load(); }
  void set_source_connected(bool up) { source_up_.store(up); }
  void set_target_connected(bool up) { target_up_.store(up); }

  // The apply loop (atomics only).
  void set_applied(Lsn applied) { applied_.store(applied.value(), std::memory_order_relaxed); }
  void set_received(Lsn received) { received_.store(received.value(), std::memory_order_relaxed); }
  void set_confirmed(Lsn confirmed) { confirmed_.store(confirmed.value(), std::memory_order_relaxed); }
  /// The commit time of the oldest source transaction delivered and not yet committed on the
  /// target; nullopt once everything delivered is committed.
  void set_oldest_unapplied(std::optional<SystemClock::time_point> commit_time);
  /// A heartbeat of this pipeline has come through, and everything before it is on the target.
  void heartbeat_arrived(std::uint64_t seq);
  /// The apply loop is alive and not stuck (it took an item, or found the queue empty).
  void note_progress() { progress_.store(SteadyClock::now().time_since_epoch().count(), std::memory_order_relaxed); }
  [[nodiscard]] SteadyClock::time_point last_progress() const;
  void add_applied(std::int64_t changes, std::int64_t transactions, std::int64_t commits);

  // The monitor thread.
  /// The next heartbeat's sequence number, remembered as sent now.
  std::uint64_t heartbeat_sending();
  void heartbeat_failed();  // the emit failed: it will never arrive
  void set_source_wal(Lsn current);
  void set_slot(SlotInfo slot);
  void set_dead_letters(std::map<std::string, std::int64_t> by_table);
  void sample_rates();  // once a second: changes/s and transactions/s over the last 10 s

  // The copy.
  void set_copy(std::vector<TableProgress> tables);

  /// An error worth showing (and counting): kind is a short label (target, source, permanent, …).
  void set_error(const std::string& kind, const std::string& message);

  [[nodiscard]] double lag_seconds() const;
  [[nodiscard]] std::int64_t lag_bytes() const;
  [[nodiscard]] Readiness readiness(int max_lag_s) const;
  /// "streaming, lag 12 ms, 1,530 changes/s", for systemd's STATUS=.
  [[nodiscard]] std::string status_line() const;
  [[nodiscard]] nlohmann::json status_json(int max_lag_s) const;
  /// Brings the gauges up to date and returns the exposition.
  [[nodiscard]] std::string metrics_text();

 private:
  Metrics metrics_;
  std::atomic<Phase> phase_{Phase::Starting};
  std::atomic<std::uint64_t> applied_{0}, received_{0}, confirmed_{0}, source_wal_{0};
  std::atomic<std::int64_t> oldest_unapplied_us_{0};  // system clock µs; 0: none
  std::atomic<SteadyClock::rep> progress_{0};
  std::atomic<std::int64_t> changes_{0}, transactions_{0}, commits_{0};
  std::atomic<bool> source_up_{false}, target_up_{false};

  mutable std::mutex mutex_;
  std::string pipeline_;
  std::int64_t max_retained_wal_ = 0;
  SystemClock::time_point started_ = SystemClock::now();
  std::uint64_t next_heartbeat_ = 1;
  std::deque<std::pair<std::uint64_t, SteadyClock::time_point>> heartbeats_;  // sent, not yet arrived
  std::optional<SteadyClock::time_point> last_heartbeat_;
  SlotInfo slot_;
  std::map<std::string, std::int64_t> dead_letters_;
  std::vector<TableProgress> copy_;
  std::string error_kind_, error_message_;
  std::optional<SystemClock::time_point> error_at_;
  struct Sample {
    SteadyClock::time_point at;
    std::int64_t changes, transactions;
  };
  std::deque<Sample> samples_;
  double changes_per_s_ = 0, transactions_per_s_ = 0;
};

/// The daemon's one board (created on first use).
Board& board();

}  // namespace crmsync::telemetry
