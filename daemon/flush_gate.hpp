#pragma once
// FlushGate: which positions committed on the target are durable there, when the apply session
// commits with synchronous_commit = off (apply.synchronous_commit, the default).
//
// Why: a commit that waits for its WAL flush costs a disk flush per target transaction; on a
// steady stream that wait is most of the lag. PostgreSQL's own apply worker commits
// asynchronously and reports as flushed to the publisher only what the subscriber's WAL flush
// covers (worker.c, get_flush_position). This is the same rule: a position reaches the checkpoint
// and the source only once the target's WAL is flushed past the commit that holds it, so a target
// crash that loses asynchronous commits loses none the source has been told to forget.
//
// How, without the commit record's own LSN (the server does not return it): a position P that the
// apply thread handed over had its COMMIT returned before; the target's WAL insert position W read
// afterwards is past that commit record. Once the target's flush position reaches W, P is durable.
// Positions read from one server instance only: a target that restarted (crashed) since the apply
// session connected may have lost the commits, and its WAL positions are reused after recovery,
// so the gate refuses to answer for it (pg_postmaster_start_time differs).
//
// Threading: not thread-safe; the ProgressReporter calls it under its write mutex.

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "core/lsn.hpp"
#include "core/result.hpp"
#include "pq/connection.hpp"

namespace crmsync::daemon {

class FlushGate {
 public:
  /// `apply_session`: the connection the apply commits go through, asked which server instance it
  /// is on. `target`: options for the gate's own session (opened when first needed).
  static Result<std::unique_ptr<FlushGate>> open(pq::ConnectOptions target, pq::Connection& apply_session);

  /// `committed`: every source position up to it is committed on the target. The highest such
  /// position durable there, or nullopt when none newer is yet.
  Result<std::optional<Lsn>> durable(Lsn committed);
  /// Makes every commit so far durable now (a transaction committed synchronously flushes the WAL
  /// before its own commit record) and returns `committed`.
  Result<std::optional<Lsn>> force(Lsn committed);

 private:
  FlushGate(pq::ConnectOptions target, std::string instance);
  Result<pq::Connection*> session();
  Status same_instance(std::string_view started);

  pq::ConnectOptions options_;
  std::string instance_;  // pg_postmaster_start_time() of the apply session's server
  std::optional<pq::Connection> conn_;
  std::deque<std::pair<Lsn, Lsn>> waiting_;  // (source position, target WAL insert position after it)
};

/// Makes everything committed on `target` so far durable (used at start-up, before the target's
/// applied position is trusted: it may be an asynchronous commit that a crash would still lose).
Status force_target_flush(pq::Connection& target);

}  // namespace crmsync::daemon
