#include "daemon/verify_point.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "cdc/replication.hpp"
#include "sink/postgres/copy_sink.hpp"

namespace crmsync::daemon {

using Clock = std::chrono::steady_clock;
using sink::postgres::kStateSchema;

namespace {

constexpr auto kPauseTimeout = std::chrono::seconds(30);
constexpr auto kHeldTimeout = std::chrono::seconds(120);

// Outcome of one attempt that may be repeated: the daemon started or lost its hold meanwhile.
Error again(std::string why) {
  return Error{ErrorCode::StateMismatch, std::move(why), Retry::Yes};
}

std::string temp_slot_name() {
  return fmt::format("crmsync_verify_{}", ::getpid());
}

// The hold's row on the target, withdrawn on every way out.
class HoldRequest {
 public:
  HoldRequest(pq::Connection& control, std::string pipeline) : control_(control), pipeline_(std::move(pipeline)) {}
  ~HoldRequest() { release(); }
  HoldRequest(const HoldRequest&) = delete;
  HoldRequest& operator=(const HoldRequest&) = delete;

  Status ask() {
    if (auto ok = sink::postgres::ensure_state_tables(control_); !ok) return ok;
    // A hold left by a verify that died (its session is gone) is void already; clear it.
    auto cleared = control_.exec_params(
        fmt::format("DELETE FROM {}.holds h WHERE pipeline = $1 AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a "
                    "WHERE a.pid = h.holder)",
                    kStateSchema),
        {pipeline_});
    if (!cleared) return cleared.take_error();
    auto asked = control_.exec_params(
        fmt::format("INSERT INTO {}.holds (pipeline, holder) VALUES ($1, pg_backend_pid()) ON CONFLICT (pipeline) "
                    "DO NOTHING RETURNING holder",
                    kStateSchema),
        {pipeline_});
    if (!asked) return asked.take_error();
    if (asked->rows() == 0) {
      auto other = control_.exec_params(fmt::format("SELECT holder FROM {}.holds WHERE pipeline = $1", kStateSchema),
                                        {pipeline_});
      return Error{ErrorCode::StateMismatch,
                   fmt::format("another crmsync verify holds pipeline {} (target session {}); run verify again when "
                               "it is done",
                               pipeline_, other && other->rows() > 0 ? std::string(other->get(0, 0)) : "?")};
    }
    active_ = true;
    return notify();
  }

  Status set_position(Lsn p) {
    auto ok = control_.exec_params(
        fmt::format("UPDATE {}.holds SET at_lsn = $2::pg_lsn WHERE pipeline = $1 AND holder = pg_backend_pid()",
                    kStateSchema),
        {pipeline_, p.to_string()});
    if (!ok) return ok.take_error();
    return notify();
  }

  /// Waits until the daemon has written `column` (paused_lsn, held_lsn).
  Result<Lsn> wait_for(const char* column, std::chrono::seconds timeout, const std::string& what) {
    const auto until = Clock::now() + timeout;
    const auto sql = fmt::format("SELECT {}::text FROM {}.holds WHERE pipeline = $1 AND holder = pg_backend_pid()",
                                 column, kStateSchema);
    while (true) {
      auto res = control_.exec_params(sql, {pipeline_});
      if (!res) return res.take_error();
      if (res->rows() == 0) return again("the hold's row on the target went away");
      if (!res->is_null(0, 0)) return Lsn::parse(res->get(0, 0));
      if (Clock::now() > until) {
        return Error{ErrorCode::StateMismatch,
                     fmt::format("the running daemon did not {} within {} s; verify needs a daemon of this version "
                                 "that is streaming (crmsync status; during the initial copy verify cannot hold it)",
                                 what, timeout.count())};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  void release() {
    if (!active_) return;
    active_ = false;
    (void)control_.exec_params(
        fmt::format("DELETE FROM {}.holds WHERE pipeline = $1 AND holder = pg_backend_pid()", kStateSchema),
        {pipeline_});
    (void)notify();
  }

 private:
  Status notify() {
    auto ok = control_.exec("NOTIFY crmsync_hold");
    if (!ok) return ok.take_error();
    return {};
  }
  pq::Connection& control_;
  std::string pipeline_;
  bool active_ = false;
};

}  // namespace

Result<std::int64_t> committed_changes(pq::Connection& source, const config::PipelineConfig& cfg, Lsn from, Lsn to) {
  auto res = source.exec_params(
      "WITH c AS (SELECT xid, get_byte(data, 0) AS t, data FROM pg_logical_slot_peek_binary_changes($1, "
      "$2::pg_lsn, NULL, 'proto_version', '1', 'publication_names', $3)), "
      // Begin: 'B', then the commit record's LSN (big-endian int64).
      "b AS (SELECT xid, ('x' || encode(substr(data, 2, 8), 'hex'))::bit(64)::bigint AS final FROM c WHERE t = 66) "
      "SELECT count(DISTINCT c.xid::text) FROM c JOIN b USING (xid) WHERE c.t IN (73, 85, 68, 84) "  // I U D T
      "AND b.final >= $4::bigint AND b.final < $5::bigint",
      {cfg.source.slot, to.value() > (~std::uint64_t{0} >> 2) ? std::optional<std::string>{} : to.to_string(),
       pq::quote_ident(cfg.source.publication), std::to_string(from.value()), std::to_string(to.value())});
  if (!res) return res.take_error();
  return std::stoll(std::string(res->get(0, 0)));
}

struct PointTaker {
  const config::PipelineConfig& cfg;
  const Sessions& sessions;
  ComparisonPoint& point;

  Status create_slot() {
    auto repl = pq::Connection::connect(sessions.source("crmsync verify", pq::ReplicationMode::Database));
    if (!repl) return repl.take_error();
    point.repl_ = std::move(repl).value();
    auto slot = cdc::create_slot_exporting_snapshot(*point.repl_, temp_slot_name(), cdc::SlotLifetime::Temporary);
    if (!slot) {
      return Error{slot.error().code,
                   fmt::format("creating a temporary replication slot for the source snapshot (verify needs one free "
                               "slot in max_replication_slots and a role with REPLICATION): {}",
                               slot.error().message)};
    }
    point.source_snapshot_ = slot->snapshot;
    point.report_.source = slot->consistent_point;
    return {};
  }

  Status export_target() {
    auto conn = pq::Connection::connect(bare_target_options(cfg, "crmsync verify"));
    if (!conn) return conn.take_error();
    point.target_ = std::move(conn).value();
    auto& t = *point.target_;
    if (auto ok = t.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !ok) return ok.take_error();
    auto exported =
        t.exec(fmt::format("SELECT pg_export_snapshot(), to_regclass('{}.apply_progress') IS NOT NULL", kStateSchema));
    if (!exported) return exported.take_error();
    point.target_snapshot_ = std::string(exported->get(0, 0));
    if (exported->get(0, 1) != "t") return {};
    auto lsn = t.exec_params(fmt::format("SELECT lsn::text FROM {}.apply_progress WHERE pipeline = $1", kStateSchema),
                             {cfg.name});
    if (!lsn) return lsn.take_error();
    if (lsn->rows() > 0) {
      auto parsed = Lsn::parse(lsn->get(0, 0));
      if (!parsed) return parsed.take_error();
      point.report_.target = *parsed;
    }
    return {};
  }

  Status held() {
    auto control = pq::Connection::connect(bare_target_options(cfg, "crmsync verify hold"));
    if (!control) return control.take_error();
    HoldRequest hold(*control, cfg.name);
    const auto started = Clock::now();
    if (auto ok = hold.ask(); !ok) return ok;
    if (auto paused = hold.wait_for("paused_lsn", kPauseTimeout, "pause"); !paused) return paused.take_error();
    if (auto ok = create_slot(); !ok) return ok;
    if (auto ok = hold.set_position(point.report_.source); !ok) return ok;
    if (auto at = hold.wait_for("held_lsn", kHeldTimeout, fmt::format("reach {}", point.report_.source)); !at) {
      return at.take_error();
    }
    if (auto ok = export_target(); !ok) return ok;
    hold.release();
    point.report_.hold_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    if (point.report_.target && *point.report_.target > point.report_.source) {
      return again(fmt::format("the target moved to {} past the snapshot at {} before its own snapshot was taken",
                               *point.report_.target, point.report_.source));
    }
    point.report_.exact = true;
    point.report_.how =
        fmt::format("the running daemon was held at the source snapshot for {:.0f} ms", point.report_.hold_ms);
    return {};
  }

  Status stopped(pq::Connection& source, Lsn confirmed) {
    if (auto ok = create_slot(); !ok) return ok;
    if (auto ok = export_target(); !ok) return ok;
    // Everything of ours before the slot's confirmed position is on the target (the daemon
    // confirms only what the target committed, or positions with nothing of ours before them).
    const Lsn from = std::max(confirmed, point.report_.target.value_or(Lsn{}));
    auto pending = committed_changes(source, cfg, from, point.report_.source);
    auto after = cdc::find_slot(source, cfg.source.slot);
    if (!after) return after.take_error();
    if (!*after || (*after)->active || (*after)->confirmed_flush != confirmed) {
      return again("the daemon started while verify looked at its slot");
    }
    if (!pending) return pending.take_error();
    if (*pending > 0) {
      return Error{
          ErrorCode::StateMismatch,
          fmt::format("the daemon is stopped and {} source transaction(s) that committed before this verify's snapshot "
                      "({}) are not on the target yet (it holds {}); a comparison now would report them as "
                      "differences. Start the daemon (crmsync run): verify then holds it at its snapshot",
                      *pending, point.report_.source, from)};
    }
    point.report_.exact = true;
    point.report_.how =
        fmt::format("the daemon is stopped and the target holds every change before {}", point.report_.source);
    return {};
  }
};

Result<std::unique_ptr<ComparisonPoint>> ComparisonPoint::take(const config::PipelineConfig& cfg,
                                                               const Sessions& sessions) {
  Error last{ErrorCode::StateMismatch, ""};
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::unique_ptr<ComparisonPoint> point(new ComparisonPoint());
    PointTaker taker{.cfg = cfg, .sessions = sessions, .point = *point};
    auto source = pq::Connection::connect(sessions.source("crmsync verify"));
    if (!source) return source.take_error();
    auto slot = cdc::find_slot(*source, cfg.source.slot);
    if (!slot) return slot.take_error();
    Status ok;
    if (!*slot) {
      ok = taker.create_slot();
      if (ok) ok = taker.export_target();
      point->report_.how =
          fmt::format("no replication slot {} on the source: the target is compared as it is, not at a known position",
                      cfg.source.slot);
    } else if ((*slot)->active) {
      ok = taker.held();
    } else {
      ok = taker.stopped(*source, (*slot)->confirmed_flush.value_or(Lsn{}));
    }
    if (ok) return point;
    if (!ok.error().retryable() || ok.error().code == ErrorCode::ConnectionFailed) return ok.take_error();
    last = ok.take_error();
  }
  return Error{ErrorCode::StateMismatch,
               fmt::format("could not take a comparison point in three attempts: {}", last.message)};
}

ComparisonPoint::~ComparisonPoint() {
  if (target_) (void)target_->exec("COMMIT");
}

}  // namespace crmsync::daemon
