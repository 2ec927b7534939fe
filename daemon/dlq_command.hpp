#pragma once
// `crmsync dlq list [--table T] [--json]` and `crmsync dlq drop <id|all>`: the dead-letter queue
// on the target (sink/postgres/dead_letters.hpp). Both work whether the daemon runs or not.

#include <optional>
#include <string>

#include "config/pipeline_config.hpp"
#include "daemon/exit_codes.hpp"

namespace crmsync::daemon {

ExitCode dlq_list_command(const config::PipelineConfig& cfg, const std::string& table, bool json);
/// `id`: a letter's id, or "all". Dropping a letter drops the later letters of its key too.
ExitCode dlq_drop_command(const config::PipelineConfig& cfg, const std::string& id);

}  // namespace crmsync::daemon
