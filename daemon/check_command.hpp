#pragma once
// `crmsync check`: the preflight of source, mapping and target, rendered for a person or as JSON.

#include <cstdint>
#include <string>

#include "config/pipeline_config.hpp"
#include "core/check.hpp"
#include "daemon/exit_codes.hpp"

namespace crmsync::daemon {

/// Runs every check (source, mapping, target) and returns the combined report.
CheckReport run_preflight(const config::PipelineConfig& cfg);

/// Aligned columns: SCOPE, CHECK, STATUS, DETAIL, then a one-line summary.
std::string render_check_text(const CheckReport& report);
/// {"ok": bool, "checks": [{"scope","name","status","detail"}...]}
std::string render_check_json(const CheckReport& report);

/// Prints the report, with the recorded state's checks (daemon/pipeline_state.hpp), on stdout; Ok when nothing failed
/// (warnings pass), Failure otherwise.
/// With `sample` > 0, also a dry run of the mapping on up to that many rows per mapped table
/// (daemon/sample_check.hpp): refusals are data-quality findings, not failures of the check.
ExitCode check_command(const config::PipelineConfig& cfg, bool json, std::int64_t sample = 0);

}  // namespace crmsync::daemon
