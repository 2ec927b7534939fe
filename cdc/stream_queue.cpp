#include "cdc/stream_queue.hpp"

namespace crmsync::cdc {

namespace {

// The consumer is woken for what it can act on: the end of a transaction, a control item, or
// enough rows of a big transaction to be worth sending on. Waking it for every Begin and row
// costs a context switch per message, the largest part of crmsync's CPU at a steady rate.
constexpr std::size_t kWakeBytes = 256 * 1024;

bool wakes_consumer(const StreamItem& item) {
  return item.kind != StreamItem::Kind::Message || !(std::holds_alternative<pgoutput::Begin>(item.message) ||
                                                     std::holds_alternative<pgoutput::Insert>(item.message) ||
                                                     std::holds_alternative<pgoutput::Update>(item.message) ||
                                                     std::holds_alternative<pgoutput::Delete>(item.message));
}

// A Commit (a transaction is whole) or a control item (Keepalive, Reset).
bool completes(const StreamItem& item) {
  return item.kind != StreamItem::Kind::Message || std::holds_alternative<pgoutput::Commit>(item.message);
}

}  // namespace

bool StreamQueue::try_push(StreamItem&& item) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (!items_.empty() && bytes_ + item.bytes > max_bytes_) {
      blocked_ = true;
      return false;
    }
    bytes_ += item.bytes;
    unannounced_ += item.bytes;
    wake = wakes_consumer(item) || unannounced_ >= kWakeBytes || unannounced_ >= max_bytes_ / 2;
    if (wake) unannounced_ = 0;
    if (completes(item)) ++complete_;
    items_.push_back(std::move(item));
  }
  if (wake) ready_.notify_one();
  return true;
}

void StreamQueue::force_push(StreamItem item) {
  {
    std::lock_guard lock(mutex_);
    bytes_ += item.bytes;
    unannounced_ = 0;
    if (completes(item)) ++complete_;
    items_.push_back(std::move(item));
  }
  ready_.notify_one();
}

void StreamQueue::set_space_callback(std::function<void()> cb) {
  std::lock_guard lock(mutex_);
  on_space_ = std::move(cb);
}

std::optional<StreamItem> StreamQueue::pop(std::chrono::microseconds timeout) {
  std::function<void()> wake;
  std::optional<StreamItem> out;
  {
    std::unique_lock lock(mutex_);
    if (!ready_.wait_for(lock, timeout, [this] { return !items_.empty() || closed_; }) || items_.empty()) {
      return std::nullopt;
    }
    out = std::move(items_.front());
    items_.pop_front();
    bytes_ -= out->bytes;
    if (completes(*out)) --complete_;
    if (blocked_ && bytes_ <= max_bytes_ / 2) {
      blocked_ = false;
      wake = on_space_;
    }
  }
  if (wake) wake();  // outside the lock: it posts to the reader's io_context
  return out;
}

bool StreamQueue::empty() const {
  std::lock_guard lock(mutex_);
  return items_.empty();
}

bool StreamQueue::has_complete() const {
  std::lock_guard lock(mutex_);
  return complete_ > 0;
}

std::size_t StreamQueue::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

void StreamQueue::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  ready_.notify_all();
}

}  // namespace crmsync::cdc
