#pragma once
// spdlog setup: text for people at a terminal, JSON lines for log shippers. Everything goes to
// stderr so stdout stays for command output (tables, --json documents).

#include "config/pipeline_config.hpp"

namespace crmsync::daemon {

void setup_logging(const config::LogConfig& log);

}  // namespace crmsync::daemon
