#include "telemetry/metrics.hpp"

#include <prometheus/text_serializer.h>

namespace crmsync::telemetry {
namespace {

template <typename Builder>
auto& family(Builder builder, std::string_view name, std::string_view help, prometheus::Registry& r) {
  return builder.Name(std::string(name)).Help(std::string(help)).Register(r);
}

}  // namespace

prometheus::Histogram::BucketBoundaries lag_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

Metrics::Metrics()
    : registry(std::make_shared<prometheus::Registry>()),
      phase(
          family(prometheus::BuildGauge(), "crmsync_phase", "The pipeline's phase (1 for the current one)", *registry)),
      applied_lsn(family(prometheus::BuildGauge(), "crmsync_applied_lsn_bytes",
                         "The source WAL position committed on the target", *registry)
                      .Add({})),
      received_lsn(family(prometheus::BuildGauge(), "crmsync_received_lsn_bytes",
                          "The source WAL end the stream last reported", *registry)
                       .Add({})),
      confirmed_lsn(family(prometheus::BuildGauge(), "crmsync_confirmed_lsn_bytes",
                           "The source WAL position confirmed to the source (durable in the checkpoint)", *registry)
                        .Add({})),
      source_wal_lsn(family(prometheus::BuildGauge(), "crmsync_source_wal_lsn_bytes",
                            "pg_current_wal_lsn() on the source, as last read", *registry)
                         .Add({})),
      lag_bytes(family(prometheus::BuildGauge(), "crmsync_lag_bytes",
                       "Source WAL not yet applied on the target (source WAL position - applied position)", *registry)
                    .Add({})),
      lag_seconds(family(prometheus::BuildGauge(), "crmsync_lag_seconds",
                         "Age of the oldest source change not yet on the target (heartbeat-measured)", *registry)
                      .Add({})),
      changes(family(prometheus::BuildCounter(), "crmsync_changes_applied_total",
                     "Row changes applied to the target, by source table and operation", *registry)),
      source_transactions(family(prometheus::BuildCounter(), "crmsync_source_transactions_total",
                                 "Source transactions applied", *registry)
                              .Add({})),
      target_commits(
          family(prometheus::BuildCounter(), "crmsync_target_commits_total", "Target transactions committed", *registry)
              .Add({})),
      batch_transactions(family(prometheus::BuildHistogram(), "crmsync_batch_transactions",
                                "Source transactions per target commit", *registry)
                             .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000,
                                                                              2500, 5000, 10000})),
      batch_seconds(family(prometheus::BuildHistogram(), "crmsync_batch_apply_seconds",
                           "Time from a batch's first change to its target commit", *registry)
                        .Add({}, lag_buckets())),
      lag_stage(family(prometheus::BuildHistogram(), "crmsync_transaction_lag_seconds",
                       "Per source transaction, by stage: to_crmsync (source commit to decoded here), queued, "
                       "applying (to the target commit), total",
                       *registry)),
      copy_rows_done(
          family(prometheus::BuildGauge(), "crmsync_copy_rows_done", "Rows copied, by source table", *registry)),
      copy_rows_total(family(prometheus::BuildGauge(), "crmsync_copy_rows_total",
                             "Rows to copy, by source table (the planner's estimate until the table is done)",
                             *registry)),
      copy_chunks_done(
          family(prometheus::BuildGauge(), "crmsync_copy_chunks_done", "Chunks copied, by source table", *registry)),
      copy_chunks_total(
          family(prometheus::BuildGauge(), "crmsync_copy_chunks_total", "Chunks to copy, by source table", *registry)),
      dead_letters(family(prometheus::BuildGauge(), "crmsync_dead_letters",
                          "Dead letters waiting in the target's crmsync.dead_letters, by source table", *registry)),
      reconnects(family(prometheus::BuildCounter(), "crmsync_reconnects_total",
                        "Connections re-established after a loss, by side", *registry)),
      errors(family(prometheus::BuildCounter(), "crmsync_errors_total", "Errors, by kind", *registry)),
      slot_retained_wal_bytes(family(prometheus::BuildGauge(), "crmsync_slot_retained_wal_bytes",
                                     "WAL the replication slot keeps on the source (current WAL - restart_lsn)",
                                     *registry)
                                  .Add({})),
      slot_safe_wal_size_bytes(family(prometheus::BuildGauge(), "crmsync_slot_safe_wal_size_bytes",
                                      "WAL that can still be written before the slot is in danger of being lost "
                                      "(pg_replication_slots.safe_wal_size; -1 when unlimited)",
                                      *registry)
                                   .Add({})),
      slot_wal_status(family(prometheus::BuildGauge(), "crmsync_slot_wal_status",
                             "pg_replication_slots.wal_status of the slot (1 for the current one)", *registry)),
      slot_retained_wal_over_limit(family(prometheus::BuildGauge(), "crmsync_slot_retained_wal_over_limit",
                                          "1 while the slot retains more WAL than source.max_retained_wal", *registry)
                                       .Add({})),
      heartbeat_age_seconds(family(prometheus::BuildGauge(), "crmsync_heartbeat_age_seconds",
                                   "Seconds since the last heartbeat message reached the target", *registry)
                                .Add({})) {}

std::string Metrics::exposition() const {
  return prometheus::TextSerializer().Serialize(registry->Collect());
}

}  // namespace crmsync::telemetry
