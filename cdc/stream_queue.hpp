#pragma once
// The hand-over between the replication reader (its own thread) and the apply loop: a FIFO
// bounded in bytes, not items, so memory stays bounded whatever the transaction sizes. When it is
// full the reader stops reading the socket (the server then buffers or waits) but keeps sending
// status updates; the consumer wakes it through a callback when space frees up.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>

#include "cdc/pgoutput.hpp"
#include "core/lsn.hpp"

namespace crmsync::cdc {

struct StreamItem {
  enum class Kind {
    Message,    // a decoded pgoutput message
    Keepalive,  // the server is at `lsn` and the reader is between transactions: nothing before it is pending
    Reset,      // the source connection was lost: a transaction in progress will be resent from its start
  };
  Kind kind = Kind::Message;
  pgoutput::Message message;
  Lsn lsn;            // XLogData walStart for messages; walEnd for keepalives
  std::size_t bytes = 0;
  bool reply_requested = false;  // Keepalive: the server asked for our position
  std::chrono::system_clock::time_point received{};  // Commit: when the reader decoded it (lag stages)
};

class StreamQueue {
 public:
  explicit StreamQueue(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  /// Reader side. False when full (an item larger than the bound is accepted into an empty queue);
  /// the space callback then fires once when the queue drains below half. A waiting consumer is
  /// woken by a Commit or any item that is not a Begin or row change, or once 256 KB (or half the
  /// bound) has arrived since the last wake-up; otherwise it sleeps out its pop() timeout.
  bool try_push(StreamItem&& item);  // moves from `item` only when it accepts it
  void set_space_callback(std::function<void()> cb);
  /// Reader side, ignoring the bound: for the small control items (Reset) that must get through.
  void force_push(StreamItem item);

  /// Consumer side: the next item, or nullopt after `timeout` (or once closed and drained).
  std::optional<StreamItem> pop(std::chrono::microseconds timeout);
  [[nodiscard]] bool empty() const;
  /// Whether a whole transaction (its Commit) or a control item is queued: what the consumer can
  /// act on now, as opposed to the first messages of a transaction still arriving.
  [[nodiscard]] bool has_complete() const;
  [[nodiscard]] std::size_t bytes() const;
  void close();

 private:
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<StreamItem> items_;
  std::size_t bytes_ = 0;
  std::size_t unannounced_ = 0;  // bytes pushed since the consumer was last woken
  std::size_t complete_ = 0;     // queued items for which has_complete() is true
  std::size_t max_bytes_;
  bool blocked_ = false;  // a push was refused: call the callback when space frees
  bool closed_ = false;
  std::function<void()> on_space_;
};

}  // namespace crmsync::cdc
