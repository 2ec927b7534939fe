#pragma once
// Applying a streamed change to a table whose copy was resumed at a later snapshot: the chunk
// filter (chunk_filter.hpp) says which part of the change the target already holds, and this
// applies only the rest. A change moving a row between a chunk that saw it and one that did not
// becomes an INSERT or a DELETE.

#include "cdc/pgoutput.hpp"
#include "core/ids.hpp"
#include "core/lsn.hpp"
#include "core/result.hpp"
#include "daemon/chunk_filter.hpp"
#include "daemon/mapped_writes.hpp"
#include "daemon/stream_routes.hpp"
#include "pq/connection.hpp"
#include "sink/postgres/applier.hpp"

namespace crmsync::daemon {

struct ResumedChange {
  const ChunkFilter& filter;
  const CachedRelation& rel;
  Xid xid;
  Lsn commit;                  // LSN of the transaction's commit record
  const WriteContext& writes;  // the applier, and the source to read values the change does not carry
};

/// pgoutput's old-tuple kind as the applier names it.
sink::postgres::OldKind to_sink(cdc::pgoutput::OldKind k);

/// Applies an Insert, Update or Delete of `change.rel` through `applier`, skipping what the
/// resumed copy already holds. An error names the table and LSN when a change cannot be placed.
Status apply_resumed(const ResumedChange& change, const cdc::pgoutput::Message& m);

/// The target column a TRUNCATE's range DELETE selects on: the chunk column, as the route names it.
Result<std::string> target_chunk_column(const ChunkFilter& filter, const CachedRelation& rel);

}  // namespace crmsync::daemon
