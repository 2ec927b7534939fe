#pragma once
// ProgressReporter: the one writer of the confirmed position. The apply loop hands it each
// position committed on the target; a thread of its own writes that position to the checkpoint
// (a synced RocksDB write) at most every `interval`, or at once when asked, and only after that
// write publishes it as `flushed`, the position the replication reader reports to the source.
//
// Why a thread: a synced write costs milliseconds on a busy disk. On the apply thread every
// transaction that arrived meanwhile waited for it, which set the lag tail at a steady rate.
//
// Order, the exactly-once argument (daemon/README.md): target commit (apply thread) -> applied()
// -> durable on the target (the FlushGate, when commits are asynchronous) -> synced checkpoint
// write (this thread) -> flushed.store() -> status update (reader thread). `flushed` never passes
// a position that is durable on the target and in the checkpoint.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "checkpoint/store.hpp"
#include "core/lsn.hpp"
#include "core/result.hpp"
#include "daemon/flush_gate.hpp"

namespace crmsync::daemon {

class ProgressReporter {
 public:
  /// `gate`: nullptr when every target commit is durable once it returns (synchronous_commit = on).
  ProgressReporter(checkpoint::Store& store, std::atomic<std::uint64_t>& flushed, std::chrono::milliseconds interval,
                   std::unique_ptr<FlushGate> gate = nullptr);
  ~ProgressReporter();
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  /// `lsn` is committed on the target: written and published within `interval`.
  void applied(Lsn lsn);
  /// Same, but written as soon as the thread can (the source asked for our position).
  void applied_soon(Lsn lsn);
  /// Makes whatever is pending durable on the target, then writes and publishes it, on the
  /// caller's thread (stop, errors).
  Status flush();
  /// The first failed checkpoint write, if any (the apply loop stops on it).
  [[nodiscard]] std::optional<Error> error() const;
  /// Synced checkpoint writes so far.
  [[nodiscard]] std::int64_t writes() const { return writes_.load(); }

 private:
  void run();
  Status write_pending(bool force);  // holds write_mutex_

  checkpoint::Store& store_;
  std::atomic<std::uint64_t>& flushed_;
  const std::chrono::milliseconds interval_;
  std::atomic<std::uint64_t> pending_;
  std::atomic<std::int64_t> writes_{0};
  std::unique_ptr<FlushGate> gate_;  // used under write_mutex_
  bool gate_failing_ = false;

  std::mutex write_mutex_;  // one checkpoint write at a time, so `flushed_` only moves forward
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool urgent_ = false;
  bool stopping_ = false;
  std::optional<Error> error_;
  std::thread thread_;
};

}  // namespace crmsync::daemon
