#pragma once
// Where `crmsync verify` compares: a source snapshot at a position P known exactly (a temporary
// replication slot's exported snapshot; its consistent point is P) and a target snapshot that holds
// exactly the source transactions committed before P, no more and no fewer. Nothing is written on
// the source.
//
// - The daemon streams (its slot is active): it is held at P through the target (daemon/hold.hpp)
//   while the target snapshot is taken, then goes on. Its pause lasts from the request until the
//   temporary slot is created (CREATE_REPLICATION_SLOT waits for the source's running
//   transactions) plus the time to apply up to P.
// - The daemon is stopped: the target holds what the daemon applied; that is exactly P when none
//   of the source transactions the daemon's slot still has to send (peeked, not consumed) commits
//   before P and changes a published table. Otherwise verify refuses to compare (the differences
//   would be changes in flight) and says to start the daemon.
// - There is no daemon slot (never started, or torn down): the target is compared as it is.
//
// The connections that keep both snapshots importable live as long as this object.

#include <memory>
#include <optional>
#include <string>

#include "config/pipeline_config.hpp"
#include "core/lsn.hpp"
#include "core/result.hpp"
#include "daemon/sessions.hpp"
#include "pq/connection.hpp"

namespace crmsync::daemon {

struct PointReport {
  Lsn source;                 // P
  std::optional<Lsn> target;  // crmsync.apply_progress in the target snapshot
  std::string how;            // one line for the report: how the two were brought together
  bool exact = false;
  double hold_ms = 0;  // how long the daemon was held (paused and held), when it was
};

/// Source transactions the daemon's slot (not in use) still has to send that commit in [from, to)
/// and change a published table; peeked, so the slot does not move.
Result<std::int64_t> committed_changes(pq::Connection& source, const config::PipelineConfig& cfg, Lsn from, Lsn to);

class ComparisonPoint {
 public:
  static Result<std::unique_ptr<ComparisonPoint>> take(const config::PipelineConfig& cfg, const Sessions& sessions);
  ~ComparisonPoint();
  ComparisonPoint(const ComparisonPoint&) = delete;
  ComparisonPoint& operator=(const ComparisonPoint&) = delete;

  [[nodiscard]] const std::string& source_snapshot() const { return source_snapshot_; }
  [[nodiscard]] const std::string& target_snapshot() const { return target_snapshot_; }
  [[nodiscard]] const PointReport& report() const { return report_; }

 private:
  ComparisonPoint() = default;
  std::optional<pq::Connection> repl_;    // holds the temporary slot and its exported snapshot
  std::optional<pq::Connection> target_;  // holds the exported target snapshot
  std::string source_snapshot_;
  std::string target_snapshot_;
  PointReport report_;
  friend struct PointTaker;
};

}  // namespace crmsync::daemon
