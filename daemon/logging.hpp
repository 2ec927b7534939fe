#pragma once
// spdlog setup: text for people at a terminal, JSON lines for log shippers (with the fields of
// daemon/log_context.hpp). Everything goes to stderr so stdout stays for command output (tables,
// --json documents). Under systemd (stderr is the journal's stream) each line starts with its
// syslog priority, "<4>", which the journal takes as the line's priority, and text lines leave
// the timestamp to the journal.

#include <spdlog/common.h>
#include <spdlog/formatter.h>

#include <memory>
#include <string>

#include "config/pipeline_config.hpp"

namespace crmsync::daemon {

void setup_logging(const config::LogConfig& log, const std::string& pipeline);
/// The formatter setup_logging installs; `journal`: stderr is systemd's journal.
std::unique_ptr<spdlog::formatter> make_log_formatter(config::LogFormat format, bool journal);
/// The syslog priority of a level (debug 7, info 6, warn 4, error 3, critical 2).
int syslog_priority(spdlog::level::level_enum level);
/// Changes the level of the running logger (SIGHUP).
void set_log_level(config::LogLevel level);
const char* to_string(config::LogLevel level);

}  // namespace crmsync::daemon
