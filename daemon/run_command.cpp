#include "daemon/run_command.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <thread>

#include "cdc/publication_check.hpp"
#include "cdc/replication.hpp"
#include "cdc/row_filter.hpp"
#include "cdc/snapshot.hpp"
#include "checkpoint/store.hpp"
#include "daemon/check_command.hpp"
#include "daemon/copy_phase.hpp"
#include "daemon/copy_setup.hpp"
#include "daemon/http_endpoint.hpp"
#include "daemon/live_settings.hpp"
#include "daemon/monitor.hpp"
#include "daemon/notify.hpp"
#include "daemon/pipeline_state.hpp"
#include "daemon/reload.hpp"
#include "daemon/row_filter_record.hpp"
#include "daemon/sessions.hpp"
#include "daemon/signals.hpp"
#include "daemon/source_tables.hpp"
#include "daemon/stream_phase.hpp"
#include "mapping/column_plan.hpp"
#include "sink/postgres/copy_sink.hpp"
#include "telemetry/board.hpp"

namespace crmsync::daemon {
namespace {

// Everything a run holds open. The replication connection outlives the copy on a first run: the
// exported snapshot dies with it.
struct Session {
  const config::PipelineConfig& cfg;
  std::unique_ptr<checkpoint::Store> store;
  std::optional<Sessions> sessions;  // known once the target's encoding is
  pq::ConnectOptions source_opts;
  pq::ConnectOptions target_opts;
  std::optional<pq::Connection> repl;
  std::optional<pq::Connection> source;
  std::optional<pq::Connection> target;
  cdc::SystemIdentity identity;
};

// A retryable error (a server unreachable, a connection lost) exits 1 and systemd restarts us; any
// other needs an operator, and restarting would only repeat it.
// The message of the error that ended the current attempt (main thread only).
std::string& last_failure() {
  static std::string message;
  return message;
}

ExitCode fail(const Error& e) {
  spdlog::error("{}", e.message);
  last_failure() = e.message;
  telemetry::board().set_error(e.retryable() ? "retryable" : "permanent", e.message);
  return e.retryable() ? ExitCode::Failure : ExitCode::Permanent;
}

Error mismatch(std::string message) {
  return Error{ErrorCode::StateMismatch, std::move(message)};
}

Result<pq::Connection> connect(const pq::ConnectOptions& o) {
  return pq::Connection::connect(o);
}

Status open_session(Session& s) {
  auto store = checkpoint::Store::open(s.cfg.state_dir);
  if (!store) return store.take_error();
  s.store = std::move(store).value();
  // Cut over: the source is fenced and the new CRM writes the target; streaming again would apply
  // whatever the source does after the cutover on top of the new CRM's writes.
  auto cut = s.store->get_meta(kCutoverStopKey);
  if (!cut) return cut.take_error();
  if (*cut) {
    return mismatch(
        fmt::format("pipeline {} was cut over (crmsync cutover stopped it at its marker {}); it does not stream again. "
                    "crmsync teardown --yes drops its slot, publication and state",
                    s.cfg.name, **cut));
  }
  // The target first: its encoding is what every source session asks the source to send.
  {
    auto probe = connect(bare_target_options(s.cfg, "crmsync"));
    if (!probe) return probe.take_error();
    auto encoding = read_target_encoding(*probe);
    if (!encoding) return encoding.take_error();
    s.sessions.emplace(s.cfg, std::move(encoding).value());
  }
  s.source_opts = s.sessions->source("crmsync copy");
  s.target_opts = s.sessions->target("crmsync copy");
  auto repl = connect(s.sessions->source("crmsync", pq::ReplicationMode::Database));
  if (!repl) return repl.take_error();
  s.repl.emplace(std::move(repl).value());
  auto id = cdc::identify_system(*s.repl);
  if (!id) return id.take_error();
  s.identity = *id;
  auto source = connect(s.sessions->source("crmsync"));
  if (!source) return source.take_error();
  s.source.emplace(std::move(source).value());
  auto target = connect(s.sessions->target("crmsync"));
  if (!target) return target.take_error();
  s.target.emplace(std::move(target).value());
  return sink::postgres::ensure_state_tables(*s.target);
}

// The checkpoint and the source must describe the same slot on the same cluster.
// An existing publication is used only when it carries every change of source.tables; once the
// copy has begun, also only with the row filters it began under.
Status check_publication(Session& s, bool started) {
  const auto filters = s.cfg.row_filters();
  auto problems = cdc::publication_problems(*s.source, s.cfg.source.publication, s.cfg.source.tables, filters);
  if (!problems) return problems.take_error();
  if (!problems->empty()) {
    std::vector<std::string> texts;
    for (auto& p : *problems) texts.push_back(std::move(p.text));
    return mismatch(fmt::format("the publication does not match the config: {}", fmt::join(texts, "; ")));
  }
  if (!started) return {};
  auto recorded = RowFilterRecord::load(*s.store);
  if (!recorded) return recorded.take_error();
  auto published = cdc::published_row_filters(*s.source, s.cfg.source.publication);
  if (!published) return published.take_error();
  if (auto refusal = row_filter_refusal(*recorded, s.cfg, *published)) return mismatch(std::move(*refusal));
  return {};
}

// The copy reads each table through its publication row filter, as the source deparsed it, so
// that the copy and the stream let exactly the same rows through (cdc/row_filter.hpp).
Status use_row_filters(Session& s, std::vector<CopyTable>& tables) {
  auto published = cdc::published_row_filters(*s.source, s.cfg.source.publication);
  if (!published) return published.take_error();
  for (auto& t : tables) {
    const auto it = published->find(t.source);
    t.row_filter = it == published->end() ? std::string() : it->second;
  }
  return {};
}

Status check_identity(Session& s, bool slot_exists) {
  auto stored = s.store->source_identity();
  if (!stored) return stored.take_error();
  const auto& recorded = *stored;
  const auto& slot = s.cfg.source.slot;
  if (recorded && recorded->system_identifier != s.identity.system_identifier) {
    return mismatch(fmt::format(
        "the checkpoint in {} belongs to source cluster {} but {} is cluster {}: refusing to resume against a "
        "different database. Point source.dsn at the original cluster, or use a new state_dir (and drop the old "
        "slot on the original cluster with SELECT pg_drop_replication_slot(...))",
        s.cfg.state_dir, recorded->system_identifier, s.source->description(), s.identity.system_identifier));
  }
  if (recorded && !recorded->consistent_lsn.is_invalid()) {
    if (auto refusal = names_refusal(s.cfg, *recorded)) return mismatch(std::move(*refusal));
  }
  if (recorded && recorded->consistent_lsn.is_invalid()) {
    // We recorded the intent to create the slot but not its result: the process died during
    // CREATE_REPLICATION_SLOT. Nothing was copied (copying starts after the result is recorded),
    // so the slot, if the server finished creating it, is ours and safe to drop and redo.
    if (!slot_exists) return {};
    spdlog::warn("replication slot \"{}\" was being created when crmsync last stopped; dropping it to start cleanly",
                 slot);
    return cdc::drop_slot(*s.source, slot);
  }
  if (!recorded) {
    if (!slot_exists) return {};
    return mismatch(fmt::format(
        "replication slot \"{0}\" already exists on {1}, but the checkpoint in {2} has no record of it: another "
        "pipeline may own it, or the state directory was lost. If no other crmsync uses it: {3}",
        slot, s.source->description(), s.cfg.state_dir, start_over_advice(s.cfg)));
  }
  if (!slot_exists) {
    return mismatch(fmt::format(
        "the checkpoint in {} says replication slot \"{}\" was created at {}, but the source has no such slot: the "
        "changes since then cannot be streamed. {}",
        s.cfg.state_dir, recorded->slot, recorded->consistent_lsn, start_over_advice(s.cfg)));
  }
  return {};
}

// Plans the chunks of the tables `which` selects, reading at `snapshot` in a session of its own
// that closes when it is done: planning reads every table (min/max key, size), and a session that
// stayed open would hold ACCESS SHARE on all of them for the whole copy, so that a legacy TRUNCATE
// would wait for the copy to end, and every later COPY behind that TRUNCATE.
template <typename Which>
Status plan_at_snapshot(Session& s, const std::string& snapshot, std::vector<CopyTable>& tables, Which which) {
  auto planner = cdc::SnapshotSession::import(s.source_opts, snapshot);
  if (!planner) return planner.take_error();
  for (auto& t : tables) {
    if (!which(t)) continue;
    if (auto ok = plan_and_record(planner->connection(), s.cfg, t, *s.store); !ok) return ok;
  }
  return planner->end();
}

CopyRun copy_run(const Session& s) {
  return CopyRun{.pipeline = s.cfg.name,
                 .source = s.source_opts,
                 .target = s.target_opts,
                 .parallel = s.cfg.snapshot.parallel,
                 .interactive = isatty(STDERR_FILENO) != 0};
}

Result<CopyOutcome> first_copy(Session& s, std::vector<CopyTable>& tables) {
  // Refuse before anything is emptied: following the advice must lead to a working start.
  auto stale = sink::postgres::copied_chunks(*s.target, s.cfg.name);
  if (!stale) return stale.take_error();
  if (!stale->empty()) {
    return mismatch(
        fmt::format("the target's {}.copy_progress holds chunks of pipeline \"{}\" but the checkpoint in {} "
                    "is empty: was the state directory deleted? {}",
                    sink::postgres::kStateSchema, s.cfg.name, s.cfg.state_dir, start_over_advice(s.cfg)));
  }
  if (auto ok = cdc::ensure_publication(*s.source, s.cfg.source.publication, s.cfg.source.tables, s.cfg.row_filters());
      !ok) {
    return ok.take_error();
  }
  if (auto ok = check_publication(s, false); !ok) return ok.take_error();
  if (auto ok = use_row_filters(s, tables); !ok) return ok.take_error();
  {
    auto published = cdc::published_row_filters(*s.source, s.cfg.source.publication);
    if (!published) return published.take_error();
    if (auto ok = RowFilterRecord{s.cfg.row_filters(), *published}.save(*s.store); !ok) return ok.take_error();
  }
  // Only now, with the publication accepted (a refused row filter changes nothing), is anything
  // on the target emptied.
  if (auto ok = prepare_empty_targets(s.cfg, *s.target, tables); !ok) return ok.take_error();
  // Record the intent first (LSN 0/0): a crash during CREATE_REPLICATION_SLOT then leaves a slot
  // that the next start knows to be its own (check_identity).
  checkpoint::SourceIdentity intent{.system_identifier = s.identity.system_identifier,
                                    .timeline = s.identity.timeline,
                                    .slot = s.cfg.source.slot,
                                    .publication = s.cfg.source.publication,
                                    .consistent_lsn = Lsn{}};
  if (auto ok = s.store->set_source_identity(intent); !ok) return ok.take_error();
  auto slot = cdc::create_slot_exporting_snapshot(*s.repl, s.cfg.source.slot);
  if (!slot) return slot.take_error();
  spdlog::info("created replication slot \"{}\" at {} with snapshot {}", slot->name, slot->consistent_point,
               slot->snapshot);
  auto recorded = s.store->set_source_identity({.system_identifier = s.identity.system_identifier,
                                                .timeline = s.identity.timeline,
                                                .slot = slot->name,
                                                .publication = s.cfg.source.publication,
                                                .consistent_lsn = slot->consistent_point});
  if (!recorded) return recorded.take_error();
  if (auto ok = s.store->set_phase(checkpoint::Phase::Copying); !ok) return ok.take_error();
  if (auto ok = plan_at_snapshot(s, slot->snapshot, tables, [](const CopyTable&) { return true; }); !ok) {
    return ok.take_error();
  }
  auto tasks = pending_tasks(tables, *s.store);
  if (!tasks) return tasks.take_error();
  // Transactions committing at or past the consistent point are exactly those the slot's snapshot
  // does not see: the stream starts there, so the filter never applies to these chunks.
  return copy_chunks(copy_run(s), {slot->snapshot, slot->consistent_point}, std::move(tasks).value(), tables, *s.store);
}

// Chunks the target committed but the checkpoint did not hear of (a crash between the two).
Status reconcile(Session& s) {
  auto copied = sink::postgres::copied_chunks(*s.target, s.cfg.name);
  if (!copied) return copied.take_error();
  for (const auto& c : *copied) {
    auto recorded = s.store->chunks(c.source_table);
    if (!recorded) return recorded.take_error();
    for (const auto& r : *recorded) {
      if (r.index == c.index && r.state == checkpoint::ChunkState::Pending) {
        spdlog::info("copy: {} chunk {} was committed on the target before the last stop; recording it", c.source_table,
                     c.index);
        if (auto ok = s.store->mark_chunk_done(c.source_table, c.index, c.rows, c.snapshot); !ok) return ok;
      }
    }
  }
  return {};
}

Result<CopyOutcome> resume_copy(Session& s, std::vector<CopyTable>& tables) {
  if (auto ok = reconcile(s); !ok) return ok.take_error();
  if (auto ok = use_row_filters(s, tables); !ok) return ok.take_error();
  // A fresh snapshot, exported from a transaction this session holds open while workers import
  // it. The holder reads no table, so it holds no lock while it waits for the copy.
  auto holder = cdc::SnapshotSession::begin_exported(s.source_opts);
  if (!holder) return holder.take_error();
  std::set<const CopyTable*> to_plan;
  for (auto& t : tables) {
    auto planned = load_plan(t, *s.store);
    if (!planned) return planned.take_error();
    if (!*planned) {
      to_plan.insert(&t);
      continue;
    }
    auto recorded = s.store->chunks(t.source.qualified());
    if (!recorded) return recorded.take_error();
    const auto& chunks = *recorded;
    const bool some_done = std::any_of(chunks.begin(), chunks.end(),
                                       [](const auto& c) { return c.state == checkpoint::ChunkState::Done; });
    const bool some_pending = std::any_of(chunks.begin(), chunks.end(),
                                          [](const auto& c) { return c.state == checkpoint::ChunkState::Pending; });
    if (t.chunking == cdc::ChunkingKind::CtidRange && some_done && some_pending) {
      // Row versions move between blocks as they are updated, so block ranges taken at two
      // snapshots do not partition the table: copy it again as a whole at the new snapshot.
      spdlog::warn("copy: {} is chunked by block ranges and was interrupted; copying it again from the start",
                   t.source.qualified());
      if (auto ok = sink::postgres::reset_table(*s.target, s.cfg.name, t.source.qualified(), t.plan.target.schema,
                                                t.plan.target.table, t.owned);
          !ok) {
        return ok.take_error();
      }
      to_plan.insert(&t);
    }
  }
  if (!to_plan.empty()) {
    auto planned =
        plan_at_snapshot(s, holder->snapshot_name(), tables, [&](const CopyTable& t) { return to_plan.contains(&t); });
    if (!planned) return planned.take_error();
  }
  auto tasks = pending_tasks(tables, *s.store);
  if (!tasks) return tasks.take_error();
  spdlog::info("copy: resuming with {} pending chunk(s) at a new snapshot ({}, taken at {})", tasks->size(),
               holder->xid_snapshot(), holder->taken_at());
  return copy_chunks(copy_run(s), {holder->snapshot_name(), holder->taken_at()}, std::move(tasks).value(), tables,
                     *s.store);
}

// Copies until every chunk is done: chunks of tables rewritten on the source after their
// snapshot are copied again at a newer one, a few times at most (a table rewritten over and over,
// faster than it can be copied, is an error to act on, not a loop to sit in).
Result<CopyOutcome> copy_all(Session& s, std::vector<CopyTable>& tables, checkpoint::Phase phase) {
  constexpr int kMaxRounds = 10;
  auto outcome = phase == checkpoint::Phase::New ? first_copy(s, tables) : resume_copy(s, tables);
  for (int round = 1; outcome && *outcome == CopyOutcome::Rewritten; ++round) {
    // A rewriting ALTER TABLE may have changed columns or types: describe the tables again.
    auto fresh = describe_tables(s.cfg, *s.source, *s.target, true);
    if (!fresh) return fresh.take_error();
    tables = std::move(fresh).value();
    if (round == kMaxRounds) {
      return Error{ErrorCode::StateMismatch,
                   fmt::format("copy: source tables were rewritten (TRUNCATE, VACUUM FULL, CLUSTER or ALTER TABLE) "
                               "during each of {} copy rounds; pause those jobs on the source and run again (finished "
                               "chunks are kept)",
                               kMaxRounds)};
    }
    outcome = resume_copy(s, tables);
  }
  return outcome;
}

}  // namespace

namespace {

// One start: open everything, copy if needed, stream. ExitCode::Failure means a retryable error.
ExitCode run_attempt(const config::PipelineConfig& cfg, const RunOptions& options) {
  last_failure().clear();
  // Start-up again (after a failed attempt too): the watchdog pings while the process lives, and
  // /readyz says why it is not streaming.
  telemetry::board().set_phase(telemetry::Phase::Starting);
  Session s{.cfg = cfg,
            .store = nullptr,
            .sessions = {},
            .source_opts = {},
            .target_opts = {},
            .repl = {},
            .source = {},
            .target = {},
            .identity = {}};
  if (auto ok = open_session(s); !ok) return fail(ok.error());
  auto slot = cdc::find_slot(*s.source, cfg.source.slot);
  if (!slot) return fail(slot.error());
  if (*slot && (*slot)->wal_status == "lost") return fail(mismatch(slot_lost_message(cfg)));
  if (auto ok = check_identity(s, slot->has_value()); !ok) return fail(ok.error());
  telemetry::board().set_source_connected(true);
  telemetry::board().set_target_connected(true);

  auto stored_phase = s.store->phase();
  if (!stored_phase) return fail(stored_phase.error());
  const auto phase = *stored_phase;
  notify_ready(fmt::format("phase {}", checkpoint::to_string(phase)));
  if (phase == checkpoint::Phase::New) {
    // Nothing on the source changes before the preflight that `check` runs has passed: a table
    // without a usable replica identity, once published, would make the legacy application's own
    // UPDATEs and DELETEs fail.
    // Our own replication connection would count against the free WAL senders: close it for the
    // check and open it again after.
    s.repl.reset();
    const auto report = run_preflight(cfg);
    if (!all_passed(report)) {
      bool unreachable = false;
      for (const auto& item : report) {
        if (item.status != CheckStatus::Fail) continue;
        spdlog::error("preflight: {} {}: {}", item.scope, item.name, item.detail);
        unreachable = unreachable || item.name == "connect";
      }
      if (unreachable) {
        return fail(
            Error{ErrorCode::ConnectionFailed, "crmsync run: the preflight could not reach a server", Retry::Yes});
      }
      spdlog::error(
          "crmsync run: the preflight failed (see above, or run crmsync check); nothing was changed on the "
          "source");
      return ExitCode::Permanent;
    }
    auto repl = connect(s.sessions->source("crmsync", pq::ReplicationMode::Database));
    if (!repl) return fail(repl.error());
    s.repl.emplace(std::move(repl).value());
  }
  // Routing is by relation: which relation each configured name was copied as, and renames the
  // config has followed since (daemon/source_tables.hpp).
  if (auto known = reconcile_source_tables(cfg, *s.source, *s.store); !known) return fail(known.error());
  if (phase != checkpoint::Phase::New) {
    if (auto ok = check_publication(s, true); !ok) return fail(ok.error());
  }
  if (phase == checkpoint::Phase::New || phase == checkpoint::Phase::Copying) {
    auto tables = describe_tables(cfg, *s.source, *s.target, phase == checkpoint::Phase::Copying);
    if (!tables) return fail(tables.error());
    telemetry::board().set_phase(telemetry::Phase::Copying);
    auto outcome = copy_all(s, *tables, phase);
    if (!outcome) return fail(outcome.error());
    if (*outcome == CopyOutcome::Stopped) {
      notify_stopping();
      spdlog::info("copy: stopped on request; finished chunks are kept, run again to resume");
      return ExitCode::Ok;
    }
    if (auto ok = s.store->set_phase(checkpoint::Phase::Streaming); !ok) return fail(ok.error());
    auto identity = s.store->source_identity();
    if (!identity || !identity->has_value()) return fail(Error{ErrorCode::Io, "checkpoint lost the source identity"});
    spdlog::info("copy: complete; the stream starts at {}", (*identity)->consistent_lsn);
  }
  if (options.stop_after_copy) {
    return ExitCode::Ok;
  }
  auto identity = s.store->source_identity();
  if (!identity || !identity->has_value()) return fail(Error{ErrorCode::Io, "checkpoint lost the source identity"});
  // The copy's connections are not needed while streaming; the exported snapshot (if any) is done.
  s.repl.reset();
  s.source.reset();
  s.target.reset();
  notify_status("streaming");
  telemetry::board().set_phase(telemetry::Phase::Streaming);
  return stream_changes(cfg, *s.sessions, *s.store, (*identity)->consistent_lsn);
}

}  // namespace

namespace {

ExitCode run_attempts(const config::PipelineConfig& cfg, const RunOptions& options);

}  // namespace

ExitCode run_command(const config::PipelineConfig& cfg, const RunOptions& options) {
  install_stop_handlers();
  live_settings().set_from(cfg);
  std::optional<Reloader> reloader;
  if (!options.config_path.empty()) {
    reloader.emplace(options.config_path, cfg);
    install_reload_handler();
  }
  // The endpoint and the monitor live for the whole run, across attempts: /healthz answers
  // while a server is waited for, and /status says why.
  auto http = start_http_endpoint(cfg);
  if (!http) {
    spdlog::error("{}", http.error().message);
    return ExitCode::Config;
  }
  // `crmsync status` finds the endpoint here (the configured port may be 0: any free one).
  const auto address_file = cfg.state_dir + "/http.address";
  if (*http) {
    std::error_code ignored;
    std::filesystem::create_directories(cfg.state_dir, ignored);
    if (FILE* f = std::fopen(address_file.c_str(), "w")) {
      std::fputs(((*http)->address() + "\n").c_str(), f);
      std::fclose(f);
    }
  }
  const Monitor monitor(cfg, reloader ? &*reloader : nullptr);
  auto code = run_attempts(cfg, options);
  if (*http) std::remove(address_file.c_str());
  if (fatal_stop_requested() && code == ExitCode::Ok) code = ExitCode::Permanent;
  if (stop_requested()) notify_stopping();  // also when the stop came while a server was waited for
  telemetry::board().set_phase(code == ExitCode::Ok ? telemetry::Phase::Stopped : telemetry::Phase::Failed);
  return code;
}

namespace {

ExitCode run_attempts(const config::PipelineConfig& cfg, const RunOptions& options) {
  // A retryable failure (a server unreachable or lost, during start-up or the copy) is retried
  // here, with a pause that doubles up to a minute and never resets while failures continue; the
  // copy resumes from its finished chunks. Permanent errors return at once.
  auto pause = std::chrono::seconds(1);
  std::string last;
  int repeats = 0;
  while (true) {
    const auto code = run_attempt(cfg, options);
    const std::string error = last_failure();
    if (code != ExitCode::Failure || stop_requested()) return code;
    // The same error over and over (a chunk that fails the same way at every attempt) is not
    // transient: after five in a row an operator has to look.
    // A server that cannot be reached at all is waited for however long it takes (maintenance,
    // a failover); only an error that strikes after connecting counts.
    const bool unreachable = error.find("cannot connect to") != std::string::npos;
    repeats = !unreachable && error == last ? repeats + 1 : 1;
    last = error;
    if (repeats >= 5) {
      spdlog::error("crmsync run: the same error stopped {} attempts in a row; it will not go away by retrying: {}",
                    repeats, last);
      return ExitCode::Permanent;
    }
    spdlog::warn("crmsync run: a retryable error stopped this attempt (above); trying again in {} s", pause.count());
    for (auto until = std::chrono::steady_clock::now() + pause;
         std::chrono::steady_clock::now() < until && !stop_requested();) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (stop_requested()) return ExitCode::Ok;
    pause = std::min(pause * 2, std::chrono::seconds(60));
  }
}

}  // namespace

}  // namespace crmsync::daemon
