#include "daemon/cutover.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "cdc/replication.hpp"
#include "checkpoint/store.hpp"
#include "daemon/apply_loop.hpp"
#include "daemon/sessions.hpp"
#include "daemon/stream_phase.hpp"
#include "daemon/verify.hpp"
#include "daemon/verify_point.hpp"
#include "sink/postgres/copy_sink.hpp"

namespace crmsync::daemon {

using SysClock = std::chrono::system_clock;
using sink::postgres::kStateSchema;

namespace {

struct Step {
  std::string name;
  SysClock::time_point started;
  double ms = 0;
  std::string detail;
};

// A failed step: what to print, and whether it was verify finding a difference (exit 3).
struct Failure {
  std::string message;
  bool difference = false;
};

double ms_since(SysClock::time_point t) {
  return std::chrono::duration<double, std::milli>(SysClock::now() - t).count();
}

std::string clock_of(SysClock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
  return fmt::format("{:%H:%M:%S}.{:03d}", fmt::gmtime(SysClock::to_time_t(t)), ms);
}

class Cutover {
 public:
  Cutover(const config::PipelineConfig& cfg, const CutoverOptions& o) : cfg_(cfg), o_(o) {}

  ExitCode run() {
    auto failed = steps();
    if (failed && fenced_) unfence();
    print(failed);
    if (!failed) return ExitCode::Ok;
    return failed->difference ? ExitCode::VerifyMismatch : ExitCode::Failure;
  }

 private:
  // Runs one step: logged when it starts and when it ends, timed, kept for the report.
  std::optional<Failure> step(const std::string& name, const std::function<std::optional<Failure>(std::string&)>& fn) {
    Step s{name, SysClock::now(), 0, ""};
    spdlog::info("cutover: {} ...", name);
    auto failed = fn(s.detail);
    s.ms = ms_since(s.started);
    if (failed) {
      s.detail = "FAILED: " + failed->message;
      spdlog::error("cutover: {} failed after {:.0f} ms: {}", name, s.ms, failed->message);
    } else {
      spdlog::info("cutover: {} done in {:.0f} ms{}{}", name, s.ms, s.detail.empty() ? "" : ": ", s.detail);
    }
    steps_.push_back(std::move(s));
    return failed;
  }

  static Failure fail(std::string m) { return Failure{std::move(m), false}; }
  static Failure fail(const Error& e) { return Failure{e.message, false}; }

  std::optional<Failure> steps() {
    if (auto f = connect()) return f;
    if (auto f = step("preflight", [this](std::string& d) { return preflight(d); })) return f;
    if (o_.dry_run) {
      spdlog::info("cutover: --dry-run: the source is not fenced");
      fence_at_ = SysClock::now();
    } else {
      if (auto f = step("fence", [this](std::string& d) { return fence(d); })) return f;
      if (auto f = step("drain writes begun before the fence", [this](std::string& d) { return drain(d); })) return f;
    }
    if (auto f = step("marker", [this](std::string& d) { return mark(d); })) return f;
    if (auto f = step("sequences", [this](std::string& d) { return sequences(d); })) return f;
    if (o_.verify_after_fence) {
      if (auto f = step("verify after the fence", [this](std::string& d) { return verify(d); })) return f;
    }
    if (!o_.dry_run) {
      if (auto f = step("stop the stream", [this](std::string& d) { return stop(d); })) return f;
      if (auto f = step("nothing written after the fence", [this](std::string& d) { return leaked(d); })) return f;
    }
    done_at_ = SysClock::now();
    record();
    return std::nullopt;
  }

  std::optional<Failure> connect() {
    auto probe = pq::Connection::connect(bare_target_options(cfg_, "crmsync cutover"));
    if (!probe) return fail(probe.error());
    auto encoding = read_target_encoding(*probe);
    if (!encoding) return fail(encoding.error());
    target_ = std::move(probe).value();
    sessions_.emplace(cfg_, *encoding);
    auto source = pq::Connection::connect(sessions_->source("crmsync cutover"));
    if (!source) return fail(source.error());
    source_ = std::move(source).value();
    return std::nullopt;
  }

  Result<std::optional<Lsn>> target_position() {
    auto res = target_->exec_params(
        fmt::format("SELECT lsn::text FROM {}.apply_progress WHERE pipeline = $1", kStateSchema), {cfg_.name});
    if (!res) return res.take_error();
    if (res->rows() == 0) return std::optional<Lsn>{};
    auto lsn = Lsn::parse(res->get(0, 0));
    if (!lsn) return lsn.take_error();
    return std::optional<Lsn>{*lsn};
  }

  // A transactional logical message; the daemon commits its transaction on the target.
  Result<Lsn> emit(const std::string& what) {
    const nlohmann::json content = {{"pipeline", cfg_.name}, {"step", what}};
    auto res = source_->exec_params("SELECT pg_logical_emit_message(true, $1, $2)::text",
                                    {std::string(kCutoverPrefix), content.dump()});
    if (!res) return res.take_error();
    return Lsn::parse(res->get(0, 0));
  }

  // Waits until the target has committed past `at`; how long it took, or nullopt after `timeout`.
  Result<std::optional<double>> applied_past(Lsn at, std::chrono::milliseconds timeout) {
    const auto started = SysClock::now();
    while (true) {
      auto pos = target_position();
      if (!pos) return pos.take_error();
      if (*pos && **pos > at) return std::optional<double>{ms_since(started)};
      if (SysClock::now() - started > timeout) return std::optional<double>{};
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  std::optional<Failure> preflight(std::string& detail) {
    auto slot = cdc::find_slot(*source_, cfg_.source.slot);
    if (!slot) return fail(slot.error());
    if (!*slot || !(*slot)->active) {
      return fail(
          fmt::format("the daemon is not streaming: replication slot {} {}; start crmsync run and wait until "
                      "it streams",
                      cfg_.source.slot, !*slot ? "does not exist" : "is not in use"));
    }
    auto pos = target_position();
    if (!pos) return fail(pos.error());
    if (!*pos) return fail("the target has no applied position yet (crmsync.apply_progress): is the copy done?");
    auto probe = emit("probe");
    if (!probe) return fail(probe.error());
    const auto max_lag = std::chrono::milliseconds(static_cast<std::int64_t>(o_.max_lag_s * 1000));
    auto lag = applied_past(*probe, max_lag);
    if (!lag) return fail(lag.error());
    if (!*lag) {
      return fail(
          fmt::format("the stream lags more than --max-lag {} s: a probe committed on the source at {} was not "
                      "on the target in time",
                      o_.max_lag_s, *probe));
    }
    auto dlq = target_->exec_params(
        fmt::format("SELECT count(*) FROM {}.dead_letters WHERE pipeline = $1", kStateSchema), {cfg_.name});
    if (!dlq) return fail(dlq.error());
    const auto letters = std::stoll(std::string(dlq->get(0, 0)));
    if (letters > 0 && !o_.allow_dlq) {
      return fail(
          fmt::format("{} dead letter(s) wait in the DLQ (crmsync dlq list): retry or drop them first, or "
                      "pass --allow-dlq",
                      letters));
    }
    std::string verified;
    if (auto f = verify(verified)) return f;
    detail = fmt::format("streaming, lag {:.0f} ms (probe), {} dead letter(s); {}", **lag, letters, verified);
    return std::nullopt;
  }

  std::optional<Failure> verify(std::string& detail) {
    auto report = verify_tables(cfg_, VerifyOptions{});
    if (!report) return fail("verify: " + report.error().message);
    std::int64_t differences = 0;
    std::int64_t rows = 0;
    for (const auto& t : report->tables) {
      if (!t.error.empty()) return fail(fmt::format("verify: {} could not be verified: {}", t.source, t.error));
      differences += t.differences();
      rows += t.target_rows;
    }
    verified_rows_ = rows;
    if (differences > 0) {
      std::string text = render_verify_text(*report);
      std::fwrite(text.data(), 1, text.size(), stderr);
      return Failure{fmt::format("verify found {} difference(s) (listed above)", differences), true};
    }
    detail = fmt::format("verify: {} table(s), {} rows equal at {} in {:.1f} s", report->tables.size(), rows,
                         report->point.source, report->seconds);
    return std::nullopt;
  }

  Result<std::string> database() {
    auto res = source_->exec("SELECT current_database()");
    if (!res) return res.take_error();
    return std::string(res->get(0, 0));
  }

  std::optional<Failure> fence(std::string& detail) {
    auto db = database();
    if (!db) return fail(db.error());
    auto now = source_->exec("SELECT clock_timestamp()::text");
    if (!now) return fail(now.error());
    fence_server_time_ = std::string(now->get(0, 0));
    fence_at_ = SysClock::now();
    std::string sql = cfg_.cutover.fence_sql;
    if (sql.empty()) {
      sql = fmt::format(
          "ALTER DATABASE {} SET default_transaction_read_only = on; "
          "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND "
          "pid <> pg_backend_pid() AND backend_type = 'client backend' AND NOT (usename = current_user AND "
          "application_name LIKE 'crmsync%')",
          pq::quote_ident(*db));
    }
    fenced_ = true;  // also when it fails half-way: undo what it did
    auto ran = source_->exec(sql);
    if (!ran) return fail("fence_sql: " + ran.error().message);
    detail = cfg_.cutover.fence_sql.empty()
                 ? fmt::format("database {} read-only for new transactions, {} client session(s) terminated", *db,
                               ran->rows() > 0 ? std::string(ran->get(0, 0)) : "0")
                 : "cutover.fence_sql ran";
    return std::nullopt;
  }

  std::optional<Failure> drain(std::string& detail) {
    const auto until = SysClock::now() + std::chrono::seconds(cfg_.cutover.write_wait_s);
    while (true) {
      auto open = source_->exec_params(
          "SELECT pid, usename, application_name, state FROM pg_stat_activity WHERE datname = current_database() AND "
          "pid <> pg_backend_pid() AND backend_type = 'client backend' AND xact_start IS NOT NULL AND xact_start < "
          "$1::timestamptz AND NOT (usename = current_user AND application_name LIKE 'crmsync%')",
          {fence_server_time_});
      if (!open) return fail(open.error());
      if (open->rows() == 0) break;
      if (SysClock::now() > until) {
        std::vector<std::string> who;
        for (int r = 0; r < open->rows() && r < 5; ++r) {
          who.push_back(
              fmt::format("pid {} ({}, {}, {})", open->get(r, 0), open->get(r, 1), open->get(r, 2), open->get(r, 3)));
        }
        return fail(
            fmt::format("{} transaction(s) begun before the fence still run after {} s "
                        "(cutover.write_wait_s): {}",
                        open->rows(), cfg_.cutover.write_wait_s, fmt::join(who, "; ")));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    detail = "no transaction begun before the fence is running";
    return std::nullopt;
  }

  std::optional<Failure> mark(std::string& detail) {
    auto at = emit("marker");
    if (!at) return fail(at.error());
    marker_ = *at;
    auto took = applied_past(*at, std::chrono::seconds(cfg_.cutover.marker_timeout_s));
    if (!took) return fail(took.error());
    if (!*took) {
      return fail(fmt::format("the marker at {} was not applied within {} s (cutover.marker_timeout_s)", *at,
                              cfg_.cutover.marker_timeout_s));
    }
    detail = fmt::format("marker at {} applied on the target after {:.0f} ms", *at, **took);
    return std::nullopt;
  }

  // The source column a target column is filled from (by name, through the mapping), if any.
  static std::optional<std::string> source_column(const config::Mapping* m, const std::string& target) {
    if (m == nullptr) return target;
    for (const auto& [from, c] : m->columns) {
      if (!c.split && c.to == target) return from;
    }
    if (m->columns.contains(target) || m->add.contains(target)) return std::nullopt;
    if (std::find(m->exclude.begin(), m->exclude.end(), target) != m->exclude.end()) return std::nullopt;
    return target;
  }

  // What the source handed out last from `seq` (0: never used).
  Result<std::int64_t> source_sequence(const std::string& seq) {
    auto v = source_->exec_params("SELECT coalesce(pg_sequence_last_value($1::regclass), 0)", {seq});
    if (!v) return v.take_error();
    return std::stoll(std::string(v->get(0, 0)));
  }

  // Sets `seq` past `floor` and `column_max` by the headroom; never lowers it.
  Result<std::string> move_sequence(const std::string& seq, std::int64_t floor, const std::string& column_max) {
    auto moved = target_->exec_params(
        fmt::format("SELECT setval($1::regclass, greatest(({}) + $3::bigint, $2::bigint + $3::bigint, "
                    "coalesce(pg_sequence_last_value($1::regclass), 0)), true)",
                    column_max),
        {seq, std::to_string(floor), std::to_string(cfg_.cutover.sequence_headroom)});
    if (!moved) return moved.take_error();
    return std::string(moved->get(0, 0));
  }

  std::optional<Failure> sequences(std::string& detail) {
    std::vector<std::string> set;
    std::set<std::string> seen;
    const auto& overrides = cfg_.cutover.sequences;
    for (const auto& name : cfg_.source.tables) {
      const auto* m = cfg_.mapping_for(name);
      const auto target = m != nullptr ? m->to : name;
      const auto qualified = pq::quote_qualified(target.schema, target.table);
      auto cols = target_->exec_params(
          "SELECT a.attname, pg_get_serial_sequence($1, a.attname) FROM pg_attribute a WHERE a.attrelid = "
          "$1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND pg_get_serial_sequence($1, a.attname) IS NOT NULL",
          {qualified});
      if (!cols) return fail(cols.error());
      for (int r = 0; r < cols->rows(); ++r) {
        const std::string column(cols->get(r, 0));
        const std::string seq(cols->get(r, 1));
        seen.insert(seq);
        const auto over = overrides.find(seq);
        if (over != overrides.end() && over->second == "none") {
          set.push_back(fmt::format("{} left alone (cutover.sequences)", seq));
          continue;
        }
        std::optional<std::string> from;
        if (over != overrides.end()) {
          from = over->second;
        } else if (auto col = source_column(m, column)) {
          auto src = source_->exec_params("SELECT pg_get_serial_sequence($1, $2)",
                                          {pq::quote_qualified(name.schema, name.table), *col});
          if (!src) return fail(src.error());
          if (!src->is_null(0, 0)) from = std::string(src->get(0, 0));
        }
        std::int64_t source_value = 0;
        if (from) {
          auto v = source_sequence(*from);
          if (!v) return fail(v.error());
          source_value = *v;
        }
        const auto column_max = fmt::format("SELECT coalesce(max({}), 0) FROM {}", pq::quote_ident(column), qualified);
        auto moved = move_sequence(seq, source_value, column_max);
        if (!moved) return fail(moved.error());
        set.push_back(fmt::format("{} = {} (source {} {})", seq, *moved, from.value_or("-"), source_value));
      }
    }
    // Named in cutover.sequences without backing a column of a mapped table.
    for (const auto& [seq, from] : overrides) {
      if (seen.contains(seq) || from == "none") continue;
      auto v = source_sequence(from);
      if (!v) return fail(v.error());
      auto moved = move_sequence(seq, *v, "0");
      if (!moved) return fail(moved.error());
      set.push_back(fmt::format("{} = {} (source {} {}, cutover.sequences)", seq, *moved, from, *v));
    }
    detail = set.empty() ? "no target sequence backs a column of a mapped table"
                         : fmt::format("{} set: {}", set.size(), fmt::join(set, ", "));
    sequences_ = std::move(set);
    return std::nullopt;
  }

  std::optional<Failure> stop(std::string& detail) {
    auto asked = target_->exec_params(
        fmt::format("INSERT INTO {0}.stop_requests (pipeline, stop_at) VALUES ($1, $2::pg_lsn) ON CONFLICT (pipeline) "
                    "DO UPDATE SET stop_at = EXCLUDED.stop_at, requested_at = clock_timestamp()",
                    kStateSchema),
        {cfg_.name, marker_.to_string()});
    if (!asked) return fail(asked.error());
    stop_requested_ = true;
    if (auto ok = target_->exec("NOTIFY crmsync_hold"); !ok) return fail(ok.error());
    const auto until = SysClock::now() + std::chrono::seconds(30);
    while (true) {
      auto slot = cdc::find_slot(*source_, cfg_.source.slot);
      if (!slot) return fail(slot.error());
      if (!*slot || !(*slot)->active) break;
      if (SysClock::now() > until) return fail("the daemon did not stop at the marker within 30 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    detail = fmt::format("the daemon stopped at the marker {}", marker_);
    return std::nullopt;
  }

  // The daemon stopped at the marker; a source transaction its slot still holds changed a
  // replicated table after the fence: a session the fence did not end (a fence_sql that does not
  // terminate the application's sessions, or one of crmsync's role named crmsync*). Its writes are
  // not on the target; streaming must go on.
  std::optional<Failure> leaked(std::string& detail) {
    auto n = committed_changes(*source_, cfg_, marker_, Lsn{~std::uint64_t{0} >> 1});
    if (!n) return fail(n.error());
    if (*n > 0) {
      (void)target_->exec_params(fmt::format("DELETE FROM {}.stop_requests WHERE pipeline = $1", kStateSchema),
                                 {cfg_.name});
      stop_requested_ = false;
      resume_needed_ = true;
      return fail(
          fmt::format("{} source transaction(s) changed replicated tables after the fence and are not on the "
                      "target: the fence left an application session open (cutover.fence_sql must end them). "
                      "Start crmsync run again: it applies them and streams on",
                      *n));
    }
    detail = "the slot holds no change after the marker";
    return std::nullopt;
  }

  void unfence() {
    if (stop_requested_) {
      (void)target_->exec_params(fmt::format("DELETE FROM {}.stop_requests WHERE pipeline = $1", kStateSchema),
                                 {cfg_.name});
    }
    std::string sql = cfg_.cutover.unfence_sql;
    if (sql.empty()) {
      auto db = database();
      if (!db) {
        spdlog::error("cutover: could not unfence the source: {}", db.error().message);
        return;
      }
      sql = fmt::format("ALTER DATABASE {} RESET default_transaction_read_only", pq::quote_ident(*db));
    }
    if (auto ok = source_->exec(sql); !ok) {
      spdlog::error("cutover: the source is still fenced: unfencing failed: {}; run on the source: {}",
                    ok.error().message, sql);
      return;
    }
    spdlog::warn("cutover: the source is unfenced again{}", resume_needed_ ? "" : "; the daemon streams on");
    if (!resume_needed_) return;
    auto store = checkpoint::Store::open(cfg_.state_dir);
    for (int i = 0; i < 100 && !store; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      store = checkpoint::Store::open(cfg_.state_dir);
    }
    if (!store || !(*store)->erase_meta(kCutoverStopKey)) {
      spdlog::error("cutover: could not clear the daemon's cutover stop in {}: crmsync run will refuse to start",
                    cfg_.state_dir);
    }
  }

  void record() {
    if (o_.dry_run) return;
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& s : steps_) {
      steps.push_back({{"step", s.name}, {"started", clock_of(s.started)}, {"ms", s.ms}, {"detail", s.detail}});
    }
    const nlohmann::json rec = {{"marker", marker_.to_string()},
                                {"fenced_at", clock_of(fence_at_)},
                                {"done_at", clock_of(done_at_)},
                                {"window_ms", std::chrono::duration<double, std::milli>(done_at_ - fence_at_).count()},
                                {"rows_verified", verified_rows_},
                                {"sequences", sequences_},
                                {"steps", steps}};
    // The daemon lets go of the state directory a moment after its walsender is gone.
    auto store = checkpoint::Store::open(cfg_.state_dir);
    for (int i = 0; i < 100 && !store; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      store = checkpoint::Store::open(cfg_.state_dir);
    }
    if (!store) {
      spdlog::warn("cutover: not recorded in the checkpoint ({}): {}", cfg_.state_dir, store.error().message);
      return;
    }
    if (auto ok = (*store)->put_meta(kCutoverRecordKey, rec.dump()); !ok) {
      spdlog::warn("cutover: not recorded in the checkpoint: {}", ok.error().message);
    }
    // The daemon records its stop; a daemon that was killed instead has not: run must refuse anyway.
    (void)(*store)->put_meta(kCutoverStopKey, marker_.to_string());
  }

  void print(const std::optional<Failure>& failed) const {
    std::string out = fmt::format("cutover of pipeline {}{}: {}\n", cfg_.name, o_.dry_run ? " (dry run)" : "",
                                  failed ? "FAILED" : "done");
    for (const auto& s : steps_) {
      out += fmt::format("  {}  {:<36} {:>8.0f} ms  {}\n", clock_of(s.started), s.name, s.ms, s.detail);
    }
    if (!failed) {
      const auto window = std::chrono::duration<double, std::milli>(done_at_ - fence_at_).count();
      out += o_.dry_run ? fmt::format("write-unavailable window if fenced: {:.0f} ms (marker to done)\n", window)
                        : fmt::format("write-unavailable window: {:.0f} ms (fence at {} to done at {})\n", window,
                                      clock_of(fence_at_), clock_of(done_at_));
    } else if (resume_needed_) {
      out += "the source was unfenced (cutover.unfence_sql); the daemon stopped: start crmsync run again\n";
    } else if (fenced_) {
      out += "the source was unfenced (cutover.unfence_sql) and the daemon streams on\n";
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
  }

  const config::PipelineConfig& cfg_;
  const CutoverOptions& o_;
  std::optional<Sessions> sessions_;
  std::optional<pq::Connection> source_;
  std::optional<pq::Connection> target_;
  std::vector<Step> steps_;
  std::vector<std::string> sequences_;
  bool fenced_ = false;
  bool stop_requested_ = false;
  bool resume_needed_ = false;  // the daemon stopped, but must stream on
  std::string fence_server_time_;
  SysClock::time_point fence_at_{};
  SysClock::time_point done_at_{};
  Lsn marker_;
  std::int64_t verified_rows_ = 0;
};

}  // namespace

ExitCode cutover_command(const config::PipelineConfig& cfg, const CutoverOptions& options) {
  return Cutover(cfg, options).run();
}

}  // namespace crmsync::daemon
