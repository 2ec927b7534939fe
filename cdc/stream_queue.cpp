#include "cdc/stream_queue.hpp"

namespace crmsync::cdc {

bool StreamQueue::try_push(StreamItem&& item) {
  {
    std::lock_guard lock(mutex_);
    if (!items_.empty() && bytes_ + item.bytes > max_bytes_) {
      blocked_ = true;
      return false;
    }
    bytes_ += item.bytes;
    items_.push_back(std::move(item));
  }
  ready_.notify_one();
  return true;
}

void StreamQueue::force_push(StreamItem item) {
  {
    std::lock_guard lock(mutex_);
    bytes_ += item.bytes;
    items_.push_back(std::move(item));
  }
  ready_.notify_one();
}

void StreamQueue::set_space_callback(std::function<void()> cb) {
  std::lock_guard lock(mutex_);
  on_space_ = std::move(cb);
}

std::optional<StreamItem> StreamQueue::pop(std::chrono::milliseconds timeout) {
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
