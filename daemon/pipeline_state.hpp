#pragma once
// Does the recorded state of a pipeline still fit its config and its source? `run` refuses at
// start when it does not, and `crmsync check` reports the same findings without changing anything
// (it reads the checkpoint read-only, so it works beside a running daemon): another slot or
// publication name than the one the copy began with, a slot gone or consumed past what the target
// holds, a source table renamed, re-created or added after the copy, a publication edited by hand.
// The refusal texts live here so that both say the same thing.

#include <optional>
#include <string>

#include "checkpoint/store.hpp"
#include "config/pipeline_config.hpp"
#include "core/check.hpp"
#include "core/lsn.hpp"

namespace crmsync::daemon {

/// The steps that start a pipeline over with a full copy, in the order that works.
std::string start_over_advice(const config::PipelineConfig& cfg);

/// The refusal when the config names another slot or publication than `recorded` streams from.
std::optional<std::string> names_refusal(const config::PipelineConfig& cfg, const checkpoint::SourceIdentity& recorded);

/// The refusal when the slot was confirmed (`confirmed_flush`) past `start`, everything the target
/// and the checkpoint hold.
std::string slot_consumed_refusal(const config::PipelineConfig& cfg, Lsn confirmed_flush, Lsn start);
/// A slot whose wal_status is lost (invalidated by max_slot_wal_keep_size): what happened and how
/// to recover. Never a silent start from scratch.
std::string slot_lost_message(const config::PipelineConfig& cfg);

/// `crmsync check`'s "state" items: nothing when no checkpoint exists yet beyond one Ok line.
CheckReport check_pipeline_state(const config::PipelineConfig& cfg);

}  // namespace crmsync::daemon
