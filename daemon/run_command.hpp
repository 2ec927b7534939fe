#pragma once
// `crmsync run`: copy if not yet done, then stream. This file owns the start-up state machine:
// which phase the checkpoint is in, whether the source is the cluster it belongs to, and what to
// do about a slot or a checkpoint that exists without the other.

#include <string>

#include "config/pipeline_config.hpp"
#include "daemon/exit_codes.hpp"

namespace crmsync::daemon {

struct RunOptions {
  bool stop_after_copy = false;
  std::string config_path;  // what SIGHUP reads again; empty: no reload
};

ExitCode run_command(const config::PipelineConfig& cfg, const RunOptions& options);

}  // namespace crmsync::daemon
