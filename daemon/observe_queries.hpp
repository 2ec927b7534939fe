#pragma once
// The two reads that watch a pipeline from outside its data path, shared by the running daemon's
// monitor and by `crmsync status` on a stopped one: the slot on the source, the dead letters on
// the target.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "config/pipeline_config.hpp"
#include "core/lsn.hpp"
#include "pq/connection.hpp"
#include "telemetry/board.hpp"

namespace crmsync::daemon {

struct SlotReading {
  Lsn source_wal{};
  telemetry::SlotInfo slot;
};

/// The source's WAL position and the pipeline's slot (found = false when there is none);
/// nullopt when the query fails. over_limit: retains more than `max_retained_wal_bytes` (0: no limit).
std::optional<SlotReading> read_slot(pq::Connection& source, const std::string& slot_name,
                                     std::int64_t max_retained_wal_bytes);

/// The pipeline's dead letters by source table; nullopt when the query fails (no DLQ table yet).
std::optional<std::map<std::string, std::int64_t>> read_dead_letters(pq::Connection& target,
                                                                     const config::PipelineConfig& cfg);

}  // namespace crmsync::daemon
