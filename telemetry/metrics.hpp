#pragma once
// The daemon's Prometheus metrics (prometheus-cpp's registry and text exposition; nothing is
// formatted by hand). Names carry the `crmsync_` prefix and their unit, as the Prometheus naming
// conventions ask. Counters and histograms are updated by the data path once per batch (or per
// source transaction for the lag histograms), gauges by the Board (board.hpp) when the value it
// shows in /status changes, so /metrics and /status never disagree.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <string_view>

namespace crmsync::telemetry {

class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  /// The Prometheus text exposition format (version 0.0.4) of every metric.
  [[nodiscard]] std::string exposition() const;

  std::shared_ptr<prometheus::Registry> registry;

  prometheus::Family<prometheus::Gauge>& phase;  // {phase}: 1 for the current one
  prometheus::Gauge& applied_lsn;                // committed on the target, as a WAL byte position
  prometheus::Gauge& received_lsn;               // the source's WAL end as the stream last reported it
  prometheus::Gauge& confirmed_lsn;              // confirmed to the source (durable in the checkpoint)
  prometheus::Gauge& source_wal_lsn;             // pg_current_wal_lsn() on the source
  prometheus::Gauge& lag_bytes;
  prometheus::Gauge& lag_seconds;
  prometheus::Family<prometheus::Counter>& changes;  // {table, op}
  prometheus::Counter& source_transactions;
  prometheus::Counter& target_commits;
  prometheus::Histogram& batch_transactions;               // source transactions per target commit
  prometheus::Histogram& batch_seconds;                    // a batch from its first change to its commit
  prometheus::Family<prometheus::Histogram>& lag_stage;    // {stage}: to_crmsync, queued, applying, total
  prometheus::Family<prometheus::Gauge>& copy_rows_done;   // {table}
  prometheus::Family<prometheus::Gauge>& copy_rows_total;  // {table}: the estimate (reltuples) until done
  prometheus::Family<prometheus::Gauge>& copy_chunks_done;
  prometheus::Family<prometheus::Gauge>& copy_chunks_total;
  prometheus::Family<prometheus::Gauge>& dead_letters;  // {table}
  prometheus::Family<prometheus::Counter>& reconnects;  // {side}: source, target
  prometheus::Family<prometheus::Counter>& errors;      // {kind}
  prometheus::Gauge& slot_retained_wal_bytes;
  prometheus::Gauge& slot_safe_wal_size_bytes;
  prometheus::Family<prometheus::Gauge>& slot_wal_status;  // {status}: 1 for the current one
  prometheus::Gauge& slot_retained_wal_over_limit;         // 1 while past source.max_retained_wal
  prometheus::Gauge& heartbeat_age_seconds;                // since the last heartbeat reached the target
};

/// The histogram buckets of lag_stage (seconds): 0.1 ms to 60 s.
prometheus::Histogram::BucketBoundaries lag_buckets();

}  // namespace crmsync::telemetry
