#pragma once
// The apply loop: takes decoded messages from the StreamQueue and applies them to the target in
// commit order. Consecutive source transactions are grouped into one target transaction (a batch)
// that commits when the stream has nothing more buffered, after apply.max_batch_delay_ms, or past
// apply.max_batch_bytes. A source transaction is never split across target commits.
//
// Exactly once: each batch records the end LSN of its last source transaction in
// crmsync.apply_progress, in the same target transaction. After that commit the ProgressReporter
// writes the position to the checkpoint (synced, on its own thread, at most every 100 ms and at
// once when the source asks, the stream idles or stops), and only then offers it to the source as
// flushed. A transaction whose commit LSN is below the applied position was applied before and is
// skipped when the source sends it again.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cdc/replication_reader.hpp"
#include "cdc/stream_queue.hpp"
#include "checkpoint/store.hpp"
#include "config/pipeline_config.hpp"
#include "daemon/chunk_filter.hpp"
#include "daemon/hold.hpp"
#include "daemon/latency.hpp"
#include "daemon/lookups.hpp"
#include "daemon/mapped_writes.hpp"
#include "daemon/progress_reporter.hpp"
#include "daemon/stream_routes.hpp"
#include "sink/postgres/applier.hpp"
#include "telemetry/board.hpp"

namespace crmsync::daemon {

enum class ApplyOutcome { Stopped, CutOver, Fatal, TargetLost, SourceCatalogLost };

/// The prefix of crmsync cutover's logical messages (pg_logical_emit_message).
inline constexpr const char* kCutoverPrefix = "crmsync.cutover";
/// The prefix of the monitor's heartbeats (non-transactional; content "<pipeline>:<sequence>").
inline constexpr const char* kHeartbeatPrefix = "crmsync.heartbeat";

class ApplyLoop {
 public:
  ApplyLoop(const config::PipelineConfig& cfg, checkpoint::Store& store, sink::postgres::Applier& applier,
            pq::Connection& source, cdc::StreamQueue& queue, const cdc::ReplicationReader& reader, ChunkFilter& filter,
            SourceTables& tables, DeadLetterQueue& letters, std::atomic<std::uint64_t>& flushed,
            std::unique_ptr<FlushGate> gate);
  ApplyOutcome run();
  /// Lets crmsync verify hold the stream at a source position (daemon/hold.hpp).
  void set_hold(HoldSignal* hold) { hold_ = hold; }
  [[nodiscard]] std::int64_t target_commits() const { return target_commits_; }
  [[nodiscard]] std::int64_t source_transactions() const { return source_txns_; }
  /// Rows the mapping refused and skipped (on_invalid: skip).
  [[nodiscard]] std::int64_t skipped_rows() const { return skipped_; }
  [[nodiscard]] std::int64_t checkpoint_writes() const { return reporter_.writes(); }
  /// Where this session's source transactions spent their time, for the stop line.
  [[nodiscard]] std::string lag_summary() const;
  /// The error that ended the last run() (empty when it stopped on request).
  [[nodiscard]] const std::string& last_error() const { return last_error_; }

 private:
  using Clock = std::chrono::steady_clock;
  Status handle(const cdc::StreamItem& item);
  Result<bool> hold_step();                           // true: held or paused, take nothing now
  Result<bool> hold_boundary(cdc::StreamItem& item);  // true: `item` waits behind the boundary
  Status on_message(const cdc::pgoutput::Message& m, Lsn at);
  Status apply_change(const cdc::pgoutput::Message& m);
  Status apply_truncate(const cdc::pgoutput::Truncate& t);
  Status open_batch();
  /// Before the source is read for a transaction (the catalog for a Relation message, a resumed
  /// copy's TOASTed values): the transaction is visible there (source_visibility.hpp).
  Status await_source_visible();
  void drop_batch();
  Status commit_batch();
  void confirm_idle(Lsn lsn);
  void report(bool soon);
  bool lingering() const;                  // transactions arrive faster than apply.linger_us
  Clock::time_point batch_due_at() const;  // when the open batch commits at the latest
  bool batch_due() const;                  // commit the open batch now (between transactions)
  void note_arrival(std::chrono::system_clock::time_point
                        received);  // hand `applied_` to the reporter (soon: write it without waiting)
  ApplyOutcome classify(const Error& e);
  void record_lag();     // the batch just committed: each transaction's lag, by stage
  void publish_batch();  // the batch just committed: counters and positions for the board
  void on_heartbeat(const cdc::pgoutput::LogicalMessage& m);

  // Per transaction of the open batch: source commit time, when the reader decoded its Commit,
  // when this loop took that Commit from the queue (system clock, to compare with the source's).
  struct TxnTimes {
    std::chrono::system_clock::time_point committed, received, taken;
  };
  struct LagStats {
    LatencyHistogram total;     // source commit -> target commit
    LatencyHistogram to_us;     // source commit -> decoded here (decoding on the source, network)
    LatencyHistogram queued;    // decoded -> taken by the apply loop (apply busy with earlier work)
    LatencyHistogram applying;  // taken -> target commit (statements, commit round trip, batching)
  };

  const config::PipelineConfig& cfg_;
  sink::postgres::Applier& applier_;
  cdc::StreamQueue& queue_;
  const cdc::ReplicationReader& reader_;
  ChunkFilter& filter_;
  DeadLetterQueue& letters_;
  std::atomic<std::uint64_t>& flushed_;
  ProgressReporter reporter_;
  RelationCache relations_;

  bool in_source_txn_ = false;
  bool skip_txn_ = false;
  Xid xid_;
  Lsn txn_final_;
  Lsn batch_end_;  // end LSN of the last complete source transaction in the batch
  bool batch_open_ = false;
  Clock::time_point batch_started_;
  std::size_t batch_bytes_ = 0;
  std::int64_t batch_txns_ = 0;
  Clock::time_point last_idle_confirm_;
  Lsn applied_;    // committed on the target, or confirmed with nothing of ours before it
  Lsn target_at_;  // the end of the last batch this session committed on the target
  std::string last_error_;
  std::vector<TxnTimes> batch_times_;
  std::chrono::system_clock::time_point txn_committed_;  // the open source transaction's commit time
  std::chrono::system_clock::time_point item_received_;  // the item being handled
  std::chrono::system_clock::time_point last_arrival_{};
  double arrival_gap_us_ = 1e9;  // mean gap between source commits; starts "slow"
  LagStats session_lag_;
  LagStats period_lag_;  // since the last periodic log line
  Clock::time_point period_started_ = Clock::now();
  std::int64_t target_commits_ = 0;
  std::int64_t source_txns_ = 0;
  std::int64_t skipped_ = 0;
  std::int64_t skipped_before_batch_ = 0;  // skipped_ when the open batch began
  // Lookups ask on the applier's session, inside the open batch; what they found is forgotten
  // with a rolled-back batch and whenever a table they read changes other than by INSERT.
  TargetLookups lookups_{[this] { return applier_.synchronous(); }};
  std::set<config::TableName> lookup_tables_;
  bool source_catalog_lost_ = false;
  Xid visible_xid_;              // the last source transaction seen visible on the source
  bool stopped_midway_ = false;  // stop requested inside a source transaction (await_source_visible)
  HoldSignal* hold_ = nullptr;
  std::int64_t hold_id_ = 0;                 // the hold being served
  bool hold_reached_ = false;                // at its boundary: nothing more until it is released
  std::optional<cdc::StreamItem> deferred_;  // the Begin past the boundary, taken after the hold
  Clock::time_point last_ping_{};

  // Telemetry (telemetry/board.hpp): per table of the open batch, changes by operation (insert,
  // update, delete), published when it commits; the histograms' handles, looked up once.
  telemetry::Board& board_ = telemetry::board();
  std::map<Oid, std::array<std::int64_t, 3>> batch_changes_;
  std::array<prometheus::Histogram*, 4> stage_hist_{};  // to_crmsync, queued, applying, total
  std::optional<std::uint64_t> heartbeat_pending_;      // arrived inside the open batch
  bool unapplied_marked_ = false;                       // the board knows the oldest unapplied commit
  std::uint32_t ticks_ = 0;
};

}  // namespace crmsync::daemon
