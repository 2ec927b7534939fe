#include "daemon/source_visibility.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace crmsync::daemon {

Result<bool> visible_on_source(pq::Connection& source, Xid xid) {
  // The full (epoch-qualified) xid: the one nearest the snapshot's xmax. A transaction still
  // finishing its commit is at or past xmax (xmax is one past the latest completed xid, not the
  // next xid to assign); one the stream delivered is never 2^31 away from it, since the slot's
  // catalog_xmin holds back wraparound. txid_visible_in_snapshot() is then exact, however many
  // xids the cluster has behind it. (The txid_* functions, not PostgreSQL 13's pg_snapshot ones:
  // the source may be older.)
  auto res = source.exec_params(
      "SELECT full_xid < 0 OR txid_visible_in_snapshot(full_xid, snap) FROM (SELECT snap, next_xid + CASE WHEN d >= "
      "2147483648 THEN d - 4294967296 ELSE d END AS full_xid FROM (SELECT snap, next_xid, ($1::bigint - next_xid % "
      "4294967296 + 4294967296) % 4294967296 AS d FROM (SELECT s AS snap, txid_snapshot_xmax(s) AS next_xid FROM "
      "txid_current_snapshot() AS s) AS a) AS b) AS c",
      {std::to_string(xid.value())});
  if (!res) return res.take_error();
  return res->get(0, 0) == "t";
}

Result<bool> slot_is_synchronous_standby(pq::Connection& source, const std::string& slot) {
  auto res = source.exec_params(
      "SELECT coalesce(bool_or(r.sync_state IN ('sync', 'quorum')), false) FROM pg_replication_slots s JOIN "
      "pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = $1",
      {slot});
  if (!res) return res.take_error();
  return res->get(0, 0) == "t";
}

Result<SourceWait> await_visible_on_source(pq::Connection& source, Xid xid, Lsn commit_lsn, const std::string& slot,
                                           const std::function<bool()>& keep_waiting) {
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  auto next_note = started + std::chrono::seconds(1);
  auto pause = std::chrono::milliseconds(1);
  for (bool first = true;; first = false) {
    auto visible = visible_on_source(source, xid);
    if (!visible) return visible.take_error();
    if (*visible) {
      if (Clock::now() >= started + std::chrono::seconds(1)) {
        spdlog::info("stream: source transaction {} became visible on the source after {} ms", xid.value(),
                     std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count());
      }
      return SourceWait::Visible;
    }
    if (first) {
      // crmsync's own stream a synchronous standby: the commit waits for crmsync to confirm it,
      // which it does only once applied. Waiting would hold the source's commits for good.
      auto ours = slot_is_synchronous_standby(source, slot);
      if (!ours) return ours.take_error();
      if (*ours) {
        static std::atomic<bool> warned{false};
        if (!warned.exchange(true)) {
          spdlog::warn(
              "stream: the replication connection of slot \"{}\" is a synchronous standby of the source "
              "(synchronous_standby_names): the source's commits wait for crmsync, so crmsync cannot wait for them "
              "to become visible before it reads the source catalog and TOASTed values. A RENAME COLUMN may then "
              "be taken for an ADD COLUMN, and a value read back may be older than the transaction's. Take "
              "crmsync out of synchronous_standby_names",
              slot);
        }
        return SourceWait::Visible;
      }
    }
    if (!keep_waiting()) return SourceWait::GaveUp;
    if (const auto now = Clock::now(); now >= next_note) {
      const auto waited = std::chrono::duration_cast<std::chrono::seconds>(now - started).count();
      spdlog::log(waited < 60 ? spdlog::level::info : spdlog::level::warn,
                  "stream: source transaction {} (commit at {}) is in the stream but not yet visible on the source "
                  "after {} s (its commit waits, as for a synchronous standby that has not confirmed it); crmsync "
                  "reads the source for it, and applies it, once it is",
                  xid.value(), commit_lsn, waited);
      next_note = now + std::chrono::seconds(60);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

}  // namespace crmsync::daemon
