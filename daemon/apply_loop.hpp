#pragma once
// The apply loop: takes decoded messages from the StreamQueue and applies them to the target in
// commit order. Consecutive source transactions are grouped into one target transaction (a batch)
// that commits when the stream has nothing more buffered, after apply.max_batch_delay_ms, or past
// apply.max_batch_bytes. A source transaction is never split across target commits.
//
// Exactly once: each batch records the end LSN of its last source transaction in
// crmsync.apply_progress, in the same target transaction. After that commit, at most every 100 ms
// (and at once when the stream idles, stops or fails), the position is written to the checkpoint
// (synced), and only then offered to the source as flushed. A transaction whose commit LSN is
// below the applied position was applied before and is skipped when the source sends it again.

#include <atomic>
#include <chrono>
#include <cstdint>

#include "cdc/replication_reader.hpp"
#include "cdc/stream_queue.hpp"
#include "checkpoint/store.hpp"
#include "config/pipeline_config.hpp"
#include "daemon/chunk_filter.hpp"
#include "daemon/stream_routes.hpp"
#include "sink/postgres/applier.hpp"

namespace crmsync::daemon {

enum class ApplyOutcome { Stopped, Fatal, TargetLost, SourceCatalogLost };

class ApplyLoop {
 public:
  ApplyLoop(const config::PipelineConfig& cfg, checkpoint::Store& store, sink::postgres::Applier& applier,
            pq::Connection& source, cdc::StreamQueue& queue, const cdc::ReplicationReader& reader,
            const ChunkFilter& filter, std::atomic<std::uint64_t>& flushed);
  ApplyOutcome run();
  [[nodiscard]] std::int64_t target_commits() const { return target_commits_; }
  [[nodiscard]] std::int64_t source_transactions() const { return source_txns_; }

 private:
  using Clock = std::chrono::steady_clock;
  Status handle(const cdc::StreamItem& item);
  Status on_message(const cdc::pgoutput::Message& m, Lsn at);
  Status apply_change(const cdc::pgoutput::Message& m);
  Status apply_truncate(const cdc::pgoutput::Truncate& t);
  Status open_batch();
  Status commit_batch();
  Status confirm_idle(Lsn lsn);
  Status report_applied(bool force);  // sync the checkpoint, then offer `applied_` to the source
  ApplyOutcome classify(const Error& e);

  const config::PipelineConfig& cfg_;
  checkpoint::Store& store_;
  sink::postgres::Applier& applier_;
  cdc::StreamQueue& queue_;
  const cdc::ReplicationReader& reader_;
  const ChunkFilter& filter_;
  std::atomic<std::uint64_t>& flushed_;
  RelationCache relations_;

  bool in_source_txn_ = false;
  bool skip_txn_ = false;
  Xid xid_;
  Lsn txn_final_;
  Lsn batch_end_;                 // end LSN of the last complete source transaction in the batch
  bool batch_open_ = false;
  Clock::time_point batch_started_;
  std::size_t batch_bytes_ = 0;
  std::int64_t batch_txns_ = 0;
  Clock::time_point last_idle_confirm_;
  Lsn applied_;                    // committed on the target
  Clock::time_point last_report_;  // last checkpoint write + flushed_ update
  std::int64_t target_commits_ = 0;
  std::int64_t source_txns_ = 0;
  bool source_catalog_lost_ = false;
};

}  // namespace crmsync::daemon
