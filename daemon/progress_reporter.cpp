#include "daemon/progress_reporter.hpp"

namespace crmsync::daemon {

ProgressReporter::ProgressReporter(checkpoint::Store& store, std::atomic<std::uint64_t>& flushed,
                                   std::chrono::milliseconds interval)
    : store_(store), flushed_(flushed), interval_(interval), pending_(flushed.load()) {
  thread_ = std::thread([this] { run(); });
}

ProgressReporter::~ProgressReporter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void ProgressReporter::applied(Lsn lsn) {
  // No wake-up: the thread looks every `interval`; a futex call per target commit would cost
  // more than the write it schedules.
  auto cur = pending_.load();
  while (lsn.value() > cur && !pending_.compare_exchange_weak(cur, lsn.value())) {
  }
}

void ProgressReporter::applied_soon(Lsn lsn) {
  applied(lsn);
  {
    std::lock_guard lock(mutex_);
    urgent_ = true;
  }
  wake_.notify_one();
}

Status ProgressReporter::flush() {
  std::lock_guard lock(write_mutex_);
  return write_pending();
}

std::optional<Error> ProgressReporter::error() const {
  std::lock_guard lock(mutex_);
  return error_;
}

Status ProgressReporter::write_pending() {
  const Lsn target{pending_.load()};
  if (target <= Lsn{flushed_.load()}) return {};
  if (auto ok = store_.set_confirmed_lsn(target); !ok) {
    std::lock_guard lock(mutex_);
    if (!error_) error_ = ok.error();
    return ok;
  }
  writes_.fetch_add(1);
  flushed_.store(target.value());
  return {};
}

void ProgressReporter::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, interval_, [this] { return stopping_ || urgent_; });
    if (stopping_) return;
    urgent_ = false;
    if (error_) continue;  // the apply loop stops on it; do not retry a failing store
    lock.unlock();
    {
      std::lock_guard write(write_mutex_);
      (void)write_pending();  // a failure is kept in error_
    }
    lock.lock();
  }
}

}  // namespace crmsync::daemon
