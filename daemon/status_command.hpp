#pragma once
// `crmsync status [--json] [--watch]`: what a pipeline is doing. A running daemon is asked over
// its HTTP endpoint (the address it wrote to state_dir/http.address; /status), so the figures are
// its own; a stopped one is read from its checkpoint (read-only, as `check` does) and, where they
// answer, the slot on the source and the dead letters on the target. Both give the same JSON.

#include <string>

#include <nlohmann/json.hpp>

#include "config/pipeline_config.hpp"
#include "daemon/exit_codes.hpp"

namespace crmsync::daemon {

struct StatusOptions {
  bool json = false;
  bool watch = false;
  double interval_s = 2;
};

ExitCode status_command(const config::PipelineConfig& cfg, const StatusOptions& opts);

/// The human view of a status document (as /status serves it, plus "daemon").
std::string render_status(const nlohmann::json& status);

}  // namespace crmsync::daemon
