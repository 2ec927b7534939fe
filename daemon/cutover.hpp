#pragma once
// `crmsync cutover`: the switch from the legacy CRM to the new one, in the order that keeps the
// write outage short and never loses an acknowledged write:
//
//   1. preflight (the source still writable): the daemon streams, a probe (a transactional
//      pg_logical_emit_message) reaches the target within --max-lag, the DLQ is empty (or
//      --allow-dlq), and an exact verify under live load passes;
//   2. fence: cutover.fence_sql (default: the source database read-only for new transactions,
//      the other client sessions terminated), then wait until no transaction begun before the
//      fence is still running;
//   3. marker: a transactional logical message after the fence; once crmsync.apply_progress is
//      past it, every write committed before the fence is on the target;
//   4. sequences: every target sequence of a mapped table's column set past the source sequence
//      of the column it is filled from and past the column's max, plus cutover.sequence_headroom;
//   5. --verify-after-fence: verify again, nothing moving;
//   6. stop: crmsync.stop_requests asks the daemon to stop at the marker (it records that and never
//      streams again), and the cutover is recorded in the checkpoint.
//
// Each step is logged with its time and shown in the report, with the write-unavailable window
// (fence to done). A failing step after the fence runs cutover.unfence_sql and leaves the daemon
// streaming. --dry-run does all but the fence and the stop.

#include "config/pipeline_config.hpp"
#include "daemon/exit_codes.hpp"

namespace crmsync::daemon {

struct CutoverOptions {
  bool dry_run = false;
  double max_lag_s = 1.0;
  bool allow_dlq = false;
  bool verify_after_fence = false;
};

/// 0 done; 3 verify found a difference; 1 another step failed (the source unfenced).
ExitCode cutover_command(const config::PipelineConfig& cfg, const CutoverOptions& options);

/// `crmsync teardown [--yes]`: drops the slot and the publication, deletes this pipeline's rows
/// from the target's crmsync progress tables (dead letters stay: they are data), and removes the
/// state directory. Without --yes it lists what it would drop and exits 2.
ExitCode teardown_command(const config::PipelineConfig& cfg, bool yes);

}  // namespace crmsync::daemon
