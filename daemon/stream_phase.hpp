#pragma once
// The streaming phase: read the slot, apply every committed source transaction to the target in
// commit order, exactly once, until stopped. See daemon/README.md for the exactly-once argument.

#include "checkpoint/store.hpp"
#include "config/pipeline_config.hpp"
#include "core/lsn.hpp"
#include "daemon/exit_codes.hpp"
#include "daemon/sessions.hpp"

namespace crmsync::daemon {

/// Runs until SIGTERM/SIGINT (exit Ok after finishing the current transaction) or a permanent
/// error (Failure). `consistent_lsn` is where the stream starts when nothing was applied yet.
ExitCode stream_changes(const config::PipelineConfig& cfg, const Sessions& sessions, checkpoint::Store& store,
                        Lsn consistent_lsn);

}  // namespace crmsync::daemon
