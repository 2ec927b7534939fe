#pragma once
// Holding the running daemon at a source position, for `crmsync verify` (daemon/verify_point.hpp).
// The only control a running daemon takes from another process, and it goes through the target:
// verify and the daemon may run on different hosts, and both reach the target.
//
//   verify                                   daemon (HoldWatcher thread + ApplyLoop)
//   INSERT crmsync.holds (holder = its pid)
//   NOTIFY crmsync_hold              ──▶     the apply loop commits the open batch at the next
//                                            source transaction boundary and pauses
//                                   ◀──      paused_lsn
//   CREATE_REPLICATION_SLOT … TEMPORARY:
//   consistent point P (past everything
//   the paused daemon has received)
//   UPDATE at_lsn = P, NOTIFY        ──▶     applies every transaction whose commit record lies
//                                            before P and none at or past it (a Begin at or past
//                                            P, or a keepalive at or past P, is the boundary),
//                                            commits, and waits
//                                   ◀──      held_lsn
//   BEGIN REPEATABLE READ on the target:
//   the target holds exactly P
//   DELETE the row, NOTIFY           ──▶     goes on
//
// A hold whose holder session is gone (verify killed, its connection lost) or older than ten
// minutes is ignored, so a verify that dies never stalls the daemon for longer than it takes the
// watcher to notice (at most a second).

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "core/lsn.hpp"
#include "pq/connection.hpp"

namespace crmsync::daemon {

/// Shared between the HoldWatcher (writes the request) and the ApplyLoop (writes where it is).
struct HoldSignal {
  std::atomic<std::int64_t> request{0};  // the hold's id (requested_at, µs); 0: none
  std::atomic<std::uint64_t> until{0};   // P, once verify knows it; 0: pause where you are
  std::atomic<std::int64_t> paused_for{0};
  std::atomic<std::uint64_t> paused_at{0};
  std::atomic<std::int64_t> held_for{0};
  std::atomic<std::uint64_t> held_at{0};
  // crmsync cutover (crmsync.stop_requests): stop once the target has committed past this (its
  // marker). 0: no request.
  std::atomic<std::uint64_t> stop_at{0};
};

class HoldWatcher {
 public:
  HoldWatcher(pq::ConnectOptions target, std::string pipeline, HoldSignal& signal);
  ~HoldWatcher();
  HoldWatcher(const HoldWatcher&) = delete;
  HoldWatcher& operator=(const HoldWatcher&) = delete;

 private:
  void run();
  bool poll_once(pq::Connection& conn);  // false: the connection failed
  void wait(pq::Connection* conn, std::chrono::milliseconds timeout);

  pq::ConnectOptions target_;
  std::string pipeline_;
  HoldSignal& signal_;
  std::int64_t reported_paused_ = 0;
  std::int64_t reported_held_ = 0;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace crmsync::daemon
