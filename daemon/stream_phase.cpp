#include "daemon/stream_phase.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "cdc/replication.hpp"
#include "cdc/replication_reader.hpp"
#include "daemon/apply_loop.hpp"
#include "daemon/chunk_filter.hpp"
#include "daemon/mapped_writes.hpp"
#include "daemon/notify.hpp"
#include "daemon/pipeline_state.hpp"
#include "daemon/signals.hpp"
#include "sink/postgres/applier.hpp"
#include "telemetry/board.hpp"

namespace crmsync::daemon {
namespace {

using Clock = std::chrono::steady_clock;

// Connects to the target, retrying with capped exponential backoff until it answers or a stop is
// requested. A target that is down for a while is normal during a migration (maintenance,
// failover); the source keeps its WAL for us meanwhile.
// nullptr: a stop was requested meanwhile. A permanent refusal (a missing privilege, a bad
// password) is an error, not something to retry for ever.
Result<std::unique_ptr<sink::postgres::Applier>> connect_target(const config::PipelineConfig& cfg,
                                                                const Sessions& sessions) {
  auto backoff = std::chrono::milliseconds(100);
  const auto opts = sessions.apply_target("crmsync apply");
  while (!stop_requested()) {
    auto applier = sink::postgres::Applier::connect(opts, cfg.name);
    if (applier) {
      (*applier)->set_compaction(cfg.apply.compact, static_cast<std::size_t>(cfg.apply.max_batch_bytes));
      telemetry::board().set_target_connected(true);
      return std::move(applier).value();
    }
    telemetry::board().set_target_connected(false);
    telemetry::board().note_progress();  // waiting for a server is not a hung apply
    if (!applier.error().retryable()) return applier.take_error();
    spdlog::warn("target unavailable ({}); retrying in {} ms", applier.error().message, backoff.count());
    const auto until = Clock::now() + backoff;
    while (Clock::now() < until && !stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
  }
  return std::unique_ptr<sink::postgres::Applier>{};
}

std::optional<pq::Connection> connect_source(const Sessions& sessions) {
  auto conn = pq::Connection::connect(sessions.source("crmsync catalog"));
  if (!conn) {
    spdlog::warn("source catalog connection: {}", conn.error().message);
    return std::nullopt;
  }
  return std::move(conn).value();
}

long peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;  // kilobytes on Linux
}

}  // namespace

ExitCode stream_changes(const config::PipelineConfig& cfg, const Sessions& sessions, checkpoint::Store& store,
                        Lsn consistent_lsn) {
  auto filter = ChunkFilter::load(store, consistent_lsn);
  if (!filter) {
    spdlog::error("{}", filter.error().message);
    return filter.error().code == ErrorCode::StateMismatch ? ExitCode::Permanent : ExitCode::Failure;
  }
  auto tables = SourceTables::load(store);
  if (!tables) {
    spdlog::error("{}", tables.error().message);
    return ExitCode::Failure;
  }
  auto connected = connect_target(cfg, sessions);
  if (!connected) {
    spdlog::error("{}", connected.error().message);
    return ExitCode::Permanent;
  }
  auto applier = std::move(connected).value();
  // A transient error that strikes again and again at the same position (a statement_timeout on
  // the same batch, a server that crashes on it) is not transient: after kMaxRepeats attempts,
  // with growing pauses between them, it stops the pipeline for an operator.
  HoldSignal hold;
  const HoldWatcher watcher(bare_target_options(cfg, "crmsync hold"), cfg.name, hold);
  constexpr int kMaxRepeats = 5;
  Lsn failed_at{};
  int repeats = 0;
  while (applier) {
    // Apply commits asynchronously: what the target shows may not be on its disk yet (the last
    // session's commits), so it is made durable before it is trusted, and the gate confirms only
    // what the target's WAL flush covers from here on.
    std::unique_ptr<FlushGate> gate;
    if (cfg.apply.synchronous_commit == config::SynchronousCommit::Off) {
      auto conn = applier->synchronous();
      auto flushed_now = conn ? force_target_flush(**conn) : Status(conn.error());
      auto opened = flushed_now ? FlushGate::open(sessions.target("crmsync flush"), **conn)
                                : Result<std::unique_ptr<FlushGate>>(flushed_now.error());
      if (!opened) {
        spdlog::error("{}", opened.error().message);
        return ExitCode::Failure;
      }
      gate = std::move(opened).value();
    }
    // Where to resume: what the target says it has (authoritative: written in the same
    // transaction as the data), the checkpoint, or the slot's consistent point.
    auto target_lsn = applier->applied_lsn();
    auto store_lsn = store.confirmed_lsn();
    if (!target_lsn || !store_lsn) {
      spdlog::error("{}", !target_lsn ? target_lsn.error().message : store_lsn.error().message);
      return ExitCode::Failure;
    }
    // The keys with dead letters (the copy's too): their later changes wait behind them.
    auto plain = applier->synchronous();
    auto letters = plain ? DeadLetterQueue::load(**plain, cfg.name) : Result<DeadLetterQueue>(plain.error());
    if (!letters) {
      spdlog::error("{}", letters.error().message);
      return ExitCode::Failure;
    }
    Lsn start = consistent_lsn;
    if (*store_lsn) start = std::max(start, **store_lsn);
    if (*target_lsn) start = std::max(start, **target_lsn);
    if (*target_lsn && (!*store_lsn || **store_lsn < **target_lsn)) {
      // The target committed past what the checkpoint recorded (a crash between the two).
      if (auto ok = store.set_confirmed_lsn(**target_lsn); !ok) {
        spdlog::error("{}", ok.error().message);
        return ExitCode::Failure;
      }
    }
    auto source = connect_source(sessions);
    if (!source) {
      telemetry::board().note_progress();  // waiting for a server is not a hung apply
      std::this_thread::sleep_for(std::chrono::seconds(1));
      if (stop_requested()) return ExitCode::Ok;
      continue;
    }
    // A slot confirmed past everything the target holds was consumed by someone else
    // (pg_logical_slot_get_changes, pg_replication_slot_advance, another daemon): the changes in
    // between are gone from it, and streaming on would hide the gap.
    auto slot = cdc::find_slot(*source, cfg.source.slot);
    if (!slot) {
      spdlog::warn("source catalog: {}", slot.error().message);
      telemetry::board().note_progress();
      std::this_thread::sleep_for(std::chrono::seconds(1));
      if (stop_requested()) return ExitCode::Ok;
      continue;
    }
    if (*slot && (*slot)->wal_status == "lost") {
      spdlog::error("{}", slot_lost_message(cfg));
      telemetry::board().set_error("slot_lost", slot_lost_message(cfg));
      return ExitCode::Permanent;
    }
    if (*slot && (*slot)->confirmed_flush && *(*slot)->confirmed_flush > start) {
      spdlog::error("{}", slot_consumed_refusal(cfg, *(*slot)->confirmed_flush, start));
      return ExitCode::Permanent;
    }
    (void)filter->pass(start);  // durable: nothing before it is streamed again
    std::atomic<std::uint64_t> flushed{start.value()};
    // Bounded in bytes: memory does not grow with transaction size (a huge source transaction is
    // applied as it arrives, in one target transaction).
    cdc::StreamQueue queue(static_cast<std::size_t>(cfg.apply.max_batch_bytes) * 2);
    cdc::ReplicationReader reader({.source = sessions.source("crmsync stream", pq::ReplicationMode::Database),
                                   .slot = cfg.source.slot,
                                   .publication = cfg.source.publication,
                                   .status_interval = std::chrono::milliseconds(1000),
                                   .max_backoff = std::chrono::milliseconds(10000),
                                   .receive_timeout = std::chrono::seconds(cfg.source.receive_timeout_s),
                                   .max_identical_failures = 5},
                                  queue, [&flushed] { return Lsn{flushed.load()}; });
    reader.start(start);
    ApplyLoop loop(cfg, store, *applier, *source, queue, reader, *filter, *tables, *letters, flushed, std::move(gate));
    loop.set_hold(&hold);
    const auto outcome = loop.run();
    if (const auto n = reader.reconnects(); n > 0) {
      telemetry::board().metrics().reconnects.Add({{"side", "source"}}).Increment(n);
    }
    switch (outcome) {
      case ApplyOutcome::Stopped:
        telemetry::board().set_phase(telemetry::Phase::Stopping);
        notify_stopping();
        reader.stop();  // sends the final status update with the durable position
        if (letters->recorded() > 0) {
          spdlog::warn("stream: {} dead letter(s) recorded this session; see crmsync dlq list", letters->recorded());
        }
        if (loop.skipped_rows() > 0) {
          spdlog::info("stream: {} row(s) refused by a mapping were skipped this session (on_invalid: skip)",
                       loop.skipped_rows());
        }
        spdlog::info(
            "stopped at {} (this session: {} source transactions in {} target commits, {} statements, "
            "{} rows of them in multi-row statements, {} changes merged into another of the same key, "
            "{} target rows changed beyond one per source row, "
            "{} checkpoint writes; peak memory {} MB; {})",
            Lsn{flushed.load()}, loop.source_transactions(), loop.target_commits(), applier->counters().statements,
            applier->counters().multirow_rows, applier->counters().merged, applier->counters().rows_extra,
            loop.checkpoint_writes(), peak_rss_mb(), loop.lag_summary());
        return ExitCode::Ok;
      case ApplyOutcome::CutOver: {
        notify_stopping();
        reader.stop();
        const auto at = Lsn{hold.stop_at.load()};
        if (auto ok = store.put_meta(kCutoverStopKey, at.to_string()); !ok) {
          spdlog::error("stream: recording the cutover stop in the checkpoint: {}", ok.error().message);
          return ExitCode::Failure;
        }
        spdlog::info(
            "stopped for the cutover at {} ({} source transactions this session); this pipeline does not "
            "start again (crmsync teardown removes it)",
            Lsn{flushed.load()}, loop.source_transactions());
        return ExitCode::Ok;
      }
      case ApplyOutcome::Fatal:
        reader.stop();
        if (fatal_stop_requested()) {
          return ExitCode::Permanent;  // the monitor said why (a lost slot)
        }
        telemetry::board().set_error("permanent", loop.last_error());
        return ExitCode::Permanent;
      case ApplyOutcome::SourceCatalogLost: reader.stop(); continue;
      case ApplyOutcome::TargetLost: {
        const Lsn at{flushed.load()};
        repeats = at == failed_at ? repeats + 1 : 1;
        failed_at = at;
        if (repeats >= kMaxRepeats) {
          reader.stop();
          spdlog::error(
              "apply stopped at {}: the same error struck {} times in a row there ({}); it will not go "
              "away by retrying: fix its cause on the target, then start crmsync again",
              at, repeats, loop.last_error());
          return ExitCode::Permanent;
        }
        const auto pause = std::chrono::milliseconds(500) * (1 << (repeats - 1));
        for (auto until = Clock::now() + pause; Clock::now() < until && !stop_requested();) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        // Keep the reader (and its status updates) alive while the target comes back, then
        // restart the stream from the durable position: what was applied but not committed is
        // resent by the source.
        applier.reset();
        telemetry::board().set_error("target", loop.last_error());
        telemetry::board().metrics().reconnects.Add({{"side", "target"}}).Increment();
        connected = connect_target(cfg, sessions);
        if (!connected) {
          reader.stop();
          spdlog::error("{}", connected.error().message);
          return ExitCode::Permanent;
        }
        applier = std::move(connected).value();
        reader.stop();
        continue;
      }
    }
  }
  return ExitCode::Ok;  // stop requested while waiting for the target
}

}  // namespace crmsync::daemon
