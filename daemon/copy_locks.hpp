#pragma once
// Watches the copy workers' source sessions for lock waits. A legacy application's TRUNCATE,
// ALTER TABLE, VACUUM FULL or LOCK TABLE takes an ACCESS EXCLUSIVE lock that a chunk's COPY has
// to wait for; crmsync never holds a lock while it waits for another of its own sessions (each
// chunk is its own source transaction, the planning session closes before the copy starts), so
// such a wait always ends, but an operator must be able to see it: after kReportAfter the table's
// progress line and the log name the blocking pid and its query (pg_blocking_pids).
//
// Threading: one thread of its own with its own source connection; workers call working() from
// theirs.

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "daemon/copy_progress.hpp"
#include "pq/connection.hpp"

namespace crmsync::daemon {

class LockWatch {
 public:
  static constexpr std::chrono::seconds kReportAfter{3};

  LockWatch(pq::ConnectOptions source, CopyProgress& progress);
  ~LockWatch();
  LockWatch(const LockWatch&) = delete;
  LockWatch& operator=(const LockWatch&) = delete;

  /// Worker `worker`'s source backend `pid` is copying a chunk of `table` (nullptr: between chunks).
  void working(int worker, int pid, CopyProgress::Table* table);

 private:
  struct Worker {
    int pid = 0;
    CopyProgress::Table* table = nullptr;
    std::optional<std::chrono::steady_clock::time_point> waiting_since;
    std::chrono::steady_clock::time_point last_logged{};
  };
  void loop();
  void poll(pq::Connection& conn);

  pq::ConnectOptions source_;
  CopyProgress& progress_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::map<int, Worker> workers_;
  std::thread thread_;
};

}  // namespace crmsync::daemon
