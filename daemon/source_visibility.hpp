#pragma once
// Whether a source transaction the stream has delivered is visible on the source yet.
//
// The walsender decodes and sends a transaction once its commit record is flushed to WAL, which
// comes before the committing backend makes it visible to other sessions: for microseconds
// normally, for as long as a synchronous standby takes to confirm it (synchronous_standby_names).
// A catalog read in that window sees the schema as it was before the transaction's DDL, and a
// RENAME COLUMN read that way looks like an added column. So the stream reads the source for a
// transaction (the catalog for its Relation messages, unchanged TOASTed values a resumed copy
// or a mapping needs) only once that transaction is visible.

#include <functional>
#include <string>

#include "core/ids.hpp"
#include "core/lsn.hpp"
#include "core/result.hpp"
#include "pq/connection.hpp"

namespace crmsync::daemon {

/// Whether `xid` (32 bits, as pgoutput's Begin carries it; a transaction the stream delivered, so
/// committed and older than any xid not yet assigned) is visible to a snapshot taken now.
Result<bool> visible_on_source(pq::Connection& source, Xid xid);

enum class SourceWait { Visible, GaveUp };

/// Polls visible_on_source() until true. `keep_waiting` runs between polls (the watchdog's tick)
/// and returns false to give up (a stop request). Says so in the log when the wait is long: a
/// synchronous standby that does not confirm holds every source commit back, crmsync's included.
/// Not when crmsync's own stream (`slot`'s walsender) is a synchronous standby: then the commit
/// waits for crmsync, and the wait would never end; a warning says what that costs.
Result<SourceWait> await_visible_on_source(pq::Connection& source, Xid xid, Lsn commit_lsn, const std::string& slot,
                                           const std::function<bool()>& keep_waiting);

/// Whether the walsender serving `slot` is a synchronous standby of the source now.
Result<bool> slot_is_synchronous_standby(pq::Connection& source, const std::string& slot);

}  // namespace crmsync::daemon
