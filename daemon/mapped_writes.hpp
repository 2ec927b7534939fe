#pragma once
// The stream's writes to the target, through the table's mapping: a table whose mapping changes
// values (transforms, validators, defaults, splits, added columns) has its rows mapped by the
// same RowMapper as the copy, and its route (stream_routes.hpp) names the mapper's target
// columns; any other table's rows go to the applier as they are. A row the mapping refuses
// follows the mapping's on_invalid: skip (counted) or halt (a stop naming the table, key, LSN,
// rule and reason).

#include <cstdint>

#include "core/lsn.hpp"
#include "core/result.hpp"
#include "core/value.hpp"
#include "daemon/stream_routes.hpp"
#include "pq/connection.hpp"
#include "sink/postgres/applier.hpp"

namespace crmsync::daemon {

struct WriteContext {
  sink::postgres::Applier& applier;
  pq::Connection& source;  // reads the values a change does not carry (unchanged TOAST)
  Lsn commit;              // of the source transaction, for messages
  std::int64_t& skipped;   // rows refused and skipped (on_invalid: skip)
};

Status write_insert(const CachedRelation& rel, const WriteContext& w, const Row& row);
Status write_update(const CachedRelation& rel, const WriteContext& w, sink::postgres::OldKind old_kind,
                    const Row& old_row, const Row& new_row);
Status write_remove(const CachedRelation& rel, const WriteContext& w, sink::postgres::OldKind old_kind,
                    const Row& old_row);

}  // namespace crmsync::daemon
