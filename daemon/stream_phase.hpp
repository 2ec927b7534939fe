#pragma once
// The streaming phase: read the slot, apply every committed source transaction to the target in
// commit order, exactly once, until stopped. See daemon/README.md for the exactly-once argument.

#include "checkpoint/store.hpp"
#include "config/pipeline_config.hpp"
#include "core/lsn.hpp"
#include "daemon/exit_codes.hpp"
#include "daemon/sessions.hpp"

namespace crmsync::daemon {

/// Checkpoint meta key: the marker position crmsync cutover stopped the stream at. Once set, `run`
/// refuses to start (the source is fenced; the new CRM writes the target).
inline constexpr const char* kCutoverStopKey = "cutover_stop";
/// Checkpoint meta key: crmsync cutover's record (JSON: marker, times, steps, row counts).
inline constexpr const char* kCutoverRecordKey = "cutover";

/// Runs until SIGTERM/SIGINT (exit Ok after finishing the current transaction) or a permanent
/// error (Failure), or a cutover's stop request (Ok). `consistent_lsn` is where the stream starts when nothing was
/// applied yet.
ExitCode stream_changes(const config::PipelineConfig& cfg, const Sessions& sessions, checkpoint::Store& store,
                        Lsn consistent_lsn);

}  // namespace crmsync::daemon
