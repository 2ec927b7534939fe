#pragma once
// spdlog setup: text for people at a terminal, JSON lines for log shippers. Everything goes to
// stderr so stdout stays for command output (tables, --json documents).

#include "config/pipeline_config.hpp"

namespace crmsync::daemon {

void setup_logging(const config::LogConfig& log);
/// Changes the level of the running logger (SIGHUP).
void set_log_level(config::LogLevel level);
const char* to_string(config::LogLevel level);

}  // namespace crmsync::daemon
