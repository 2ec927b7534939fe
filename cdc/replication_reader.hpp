#pragma once
// The replication stream reader: START_REPLICATION on a non-blocking libpq connection driven by
// Boost.Asio (it waits on PQsocket; it never polls). Runs on its own thread so that status
// updates keep flowing to the source while the apply side is slow or the target is down.
//
// It decodes pgoutput messages and hands them to a StreamQueue. It answers keepalives that ask
// for a reply at once, sends a status update every `status_interval`, and reconnects with capped
// exponential backoff after a network error or a source restart (pushing a Reset item so the
// apply side drops a half-received transaction). Positions it reports as flushed come from the
// apply side (`flushed()`), never from what it has merely received.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "cdc/stream_queue.hpp"
#include "core/lsn.hpp"
#include "core/result.hpp"
#include "pq/connection.hpp"

namespace crmsync::cdc {

struct ReaderOptions {
  pq::ConnectOptions source;  // replication mode is forced to Database
  std::string slot;
  std::string publication;
  std::chrono::milliseconds status_interval{1000};
  std::chrono::milliseconds max_backoff{30000};
  /// Nothing received, not even a keepalive, for this long: the source is gone (a frozen
  /// walsender, a network black hole), so reconnect. Half of it without data asks the server for a
  /// keepalive, as wal_receiver_timeout does. Zero disables the check.
  std::chrono::milliseconds receive_timeout{60000};
  /// The same server error this many times in a row with no progress in between (a dropped
  /// publication, a revoked privilege): a permanent error, not a reason to re-decode for ever.
  int max_identical_failures = 5;
};

class ReplicationReader {
 public:
  /// `flushed` returns the position that is durable on the target and in the checkpoint.
  ReplicationReader(ReaderOptions options, StreamQueue& queue, std::function<Lsn()> flushed);
  ~ReplicationReader();
  ReplicationReader(const ReplicationReader&) = delete;
  ReplicationReader& operator=(const ReplicationReader&) = delete;

  /// Starts the reader thread streaming from `start`.
  void start(Lsn start);
  /// Sends a final status update with flushed(), closes the connection, joins the thread.
  void stop();

  /// Asks the server for a keepalive now (a status update with the reply flag): its position is
  /// what the walsender has decoded and sent, so every transaction committing before it has
  /// arrived. Safe from any thread.
  void request_keepalive() const;

  /// Set when the reader gave up (slot missing, malformed stream): the pipeline must stop.
  [[nodiscard]] std::optional<Error> fatal_error() const;
  /// Highest walEnd seen from the server.
  [[nodiscard]] Lsn server_position() const { return Lsn{server_end_.load()}; }
  [[nodiscard]] int reconnects() const { return reconnects_.load(); }

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  std::atomic<std::uint64_t> server_end_{0};
  std::atomic<int> reconnects_{0};
  mutable std::mutex error_mutex_;
  std::optional<Error> fatal_;
  friend class Impl;
};

}  // namespace crmsync::cdc
