#include "daemon/progress_reporter.hpp"

#include <spdlog/spdlog.h>

namespace crmsync::daemon {

ProgressReporter::ProgressReporter(checkpoint::Store& store, std::atomic<std::uint64_t>& flushed,
                                   std::chrono::milliseconds interval, std::unique_ptr<FlushGate> gate)
    : store_(store), flushed_(flushed), interval_(interval), pending_(flushed.load()), gate_(std::move(gate)) {
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
  return write_pending(true);
}

std::optional<Error> ProgressReporter::error() const {
  std::lock_guard lock(mutex_);
  return error_;
}

Status ProgressReporter::write_pending(bool force) {
  Lsn target{pending_.load()};
  if (target <= Lsn{flushed_.load()}) return {};
  if (gate_) {
    // A gate that cannot answer (the target is down or restarted) confirms nothing: the apply
    // loop finds out for itself and resumes from what the target holds.
    auto durable = force ? gate_->force(target) : gate_->durable(target);
    if (!durable) {
      if (!gate_failing_)
        spdlog::warn("apply: cannot learn the target's WAL flush position: {}", durable.error().message);
      gate_failing_ = true;
      return force ? Status(durable.take_error()) : Status{};
    }
    if (gate_failing_) spdlog::info("apply: the target's WAL flush position is known again");
    gate_failing_ = false;
    if (!*durable || **durable <= Lsn{flushed_.load()}) return {};
    target = **durable;
  }
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
      (void)write_pending(false);  // a failure is kept in error_
    }
    lock.lock();
  }
}

}  // namespace crmsync::daemon
