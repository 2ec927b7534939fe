#pragma once
// `crmsync dlq list [--table T] [--json]`, `retry <id|all>` and `drop <id|all>`: the dead-letter
// queue on the target (sink/postgres/dead_letters.hpp). list and drop work whether the daemon runs
// or not; retry needs it stopped.

#include <cstdint>
#include <optional>
#include <string>

#include "config/pipeline_config.hpp"
#include "daemon/exit_codes.hpp"

namespace crmsync::daemon {

/// "all" -> a present nullopt; a positive id -> it; anything else -> nullopt.
std::optional<std::optional<std::int64_t>> parse_letter_id(const std::string& text);

ExitCode dlq_list_command(const config::PipelineConfig& cfg, const std::string& table, bool json);
/// `id`: a letter's id, or "all". Applies each key's letters in order through the current mapping,
/// one target transaction per key; a letter still refused stays (with the new reason), and so do
/// the later letters of its key. Refused while the daemon runs (dlq_retry.cpp).
ExitCode dlq_retry_command(const config::PipelineConfig& cfg, const std::string& id);
/// `id`: a letter's id, or "all". Dropping a letter drops the later letters of its key too.
ExitCode dlq_drop_command(const config::PipelineConfig& cfg, const std::string& id);

}  // namespace crmsync::daemon
