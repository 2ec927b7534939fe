#pragma once
// Whether a target table allows the per-key compaction of change_buffer.hpp: changes to different
// keys must commute, which holds when the table's only unique index (or exclusion constraint) is
// the one on the replica identity key, no foreign key points from or to it, no trigger or rule
// fires on it, and it is an ordinary table without inheritance children.

#include <string>

#include "core/result.hpp"
#include "pq/connection.hpp"
#include "sink/postgres/route.hpp"

namespace crmsync::sink::postgres {

/// Fills route.cast_types and returns "" when the route's table may be compacted; otherwise leaves
/// the route alone and returns why not (for the log).
Result<std::string> prepare_compaction(pq::Connection& target, Route& route);

}  // namespace crmsync::sink::postgres
