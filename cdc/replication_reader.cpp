#include "cdc/replication_reader.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "cdc/stream_protocol.hpp"

namespace crmsync::cdc {

namespace asio = boost::asio;

class ReplicationReader::Impl {
 public:
  Impl(ReplicationReader& owner, ReaderOptions options, StreamQueue& queue, std::function<Lsn()> flushed)
      : owner_(owner), options_(std::move(options)), queue_(queue), flushed_(std::move(flushed)) {
    options_.source.replication = pq::ReplicationMode::Database;
    queue_.set_space_callback([this] { asio::post(io_, [this] { drain(); }); });
  }

  void run(Lsn start) {
    start_ = start;
    asio::post(io_, [this] { connect_and_start(); });
    arm_status_timer();
    arm_receive_timer();
    io_.run();
  }

  void ping() {
    asio::post(io_, [this] {
      if (!stopping_) send_status(true);
    });
  }

  void stop() {
    asio::post(io_, [this] {
      stopping_ = true;
      send_status(false);
      close();
      status_timer_.cancel();
      retry_timer_.cancel();
      receive_timer_.cancel();
      io_.stop();
    });
  }

 private:
  Lsn resume_point() const { return std::max(start_, flushed_()); }

  void connect_and_start() {
    if (stopping_) return;
    auto conn = pq::Connection::connect(options_.source);
    if (!conn) {
      retry(conn.error().message);
      return;
    }
    const auto from = resume_point();
    auto started = conn->exec(
        fmt::format("START_REPLICATION SLOT {} LOGICAL {} (proto_version '1', publication_names {}, messages 'true')",
                    pq::quote_ident(options_.slot), from, pq::quote_literal(pq::quote_ident(options_.publication))));
    if (!started) {
      // A missing slot or publication cannot heal by waiting; a slot still held by the walsender
      // of a connection that just died (SQLSTATE 55006) or a lost connection can.
      const auto& e = started.error();
      if (e.retryable() || e.message.find("55006") != std::string::npos) {
        retry(e.message);
      } else {
        fatal(Error{e.code, fmt::format("cannot start streaming from slot \"{}\": {}", options_.slot, e.message)});
      }
      return;
    }
    PQsetnonblocking(conn->raw(), 1);
    conn_.emplace(std::move(conn).value());
    socket_ = std::make_unique<asio::posix::stream_descriptor>(io_, PQsocket(conn_->raw()));
    // The backoff is reset by progress (the flushed position moving on), not by this: a
    // walsender that fails on its first change must not be hammered.
    last_received_ = std::chrono::steady_clock::now();
    flushed_at_connect_ = flushed_();
    ping_sent_ = false;
    spdlog::info("streaming from slot \"{}\" on {} at {}", options_.slot, conn_->description(), from);
    drain();
  }

  // Handles everything libpq has buffered, then waits for the socket to become readable.
  void drain() {
    while (conn_ && !stopping_) {
      if (pending_) {
        if (!queue_.try_push(std::move(*pending_))) return;  // the space callback calls drain() again
        pending_.reset();
      }
      char* buf = nullptr;
      const int n = PQgetCopyData(conn_->raw(), &buf, 1);
      if (n > 0) {
        const std::string_view data(buf, static_cast<std::size_t>(n));
        auto handled = handle(data);
        PQfreemem(buf);
        if (!handled) {
          fatal(handled.error());
          return;
        }
        continue;
      }
      if (n == 0) {
        wait_readable();
        return;
      }
      if (n == -1) {
        ended();
      } else {
        lost(fmt::format("{}", PQerrorMessage(conn_->raw())));
      }
      return;
    }
  }

  // The server ended COPY BOTH: read why. A walsender that raises an error while streaming (the
  // publication dropped, a privilege revoked, out of memory on a huge value) says so here.
  void ended() {
    std::string why = "the source ended the replication stream";
    std::string server;
    std::string state;
    while (PGresult* res = PQgetResult(conn_->raw())) {
      if (PQresultStatus(res) == PGRES_FATAL_ERROR && server.empty()) {
        const char* s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        state = s != nullptr ? s : "";
        server = fmt::format("{} (SQLSTATE {})", pq::server_error(res), state.empty() ? "?" : state);
      }
      PQclear(res);
    }
    if (!server.empty()) why += ": " + server;
    // Errors that heal by waiting (a lost connection, a shutdown or crash, a conflict, a slot still
    // held by a walsender that is going away) never count towards the permanent stop; an out of
    // memory (53200) that strikes again and again without progress does.
    lost(why, !state.empty() && !state.starts_with("08") && !state.starts_with("57") && !state.starts_with("40") &&
                  state != "55006");
  }

  Status handle(std::string_view data) {
    last_received_ = std::chrono::steady_clock::now();
    ping_sent_ = false;
    auto parsed = parse_server_message(data);
    if (!parsed) return parsed.take_error();
    if (auto* k = std::get_if<Keepalive>(&*parsed)) {
      note_server_end(k->wal_end);
      if (k->reply_requested) send_status(false);
      if (!in_txn_ && !pending_) {
        StreamItem keepalive{StreamItem::Kind::Keepalive, {}, k->wal_end, 64, k->reply_requested};
        (void)queue_.try_push(std::move(keepalive));
      }
      return {};
    }
    const auto& x = std::get<XLogData>(*parsed);
    note_server_end(x.wal_end);
    auto message = pgoutput::decode(x.payload);
    if (!message) {
      return Error{ErrorCode::ProtocolViolation, fmt::format("at {}: {}", x.wal_start, message.error().message)};
    }
    if (std::holds_alternative<pgoutput::Begin>(*message)) in_txn_ = true;
    if (std::holds_alternative<pgoutput::Commit>(*message)) in_txn_ = false;
    // Decoded rows cost about twice their wire size (a std::string per value).
    const bool commit = std::holds_alternative<pgoutput::Commit>(*message);
    StreamItem item{StreamItem::Kind::Message,
                    std::move(message).value(),
                    x.wal_start,
                    x.payload.size() * 2 + 128,
                    false,
                    commit ? std::chrono::system_clock::now() : std::chrono::system_clock::time_point{}};
    if (!queue_.try_push(std::move(item))) {
      pending_ = std::move(item);  // try_push leaves the item intact when it refuses
    }
    return {};
  }

  void note_server_end(Lsn end) {
    auto& atom = owner_.server_end_;
    auto cur = atom.load();
    while (end.value() > cur && !atom.compare_exchange_weak(cur, end.value())) {
    }
  }

  void wait_readable() {
    if (waiting_ || !socket_) return;
    waiting_ = true;
    socket_->async_wait(asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
      waiting_ = false;
      if (ec || !conn_ || stopping_) return;
      if (PQconsumeInput(conn_->raw()) == 0) {
        lost(PQerrorMessage(conn_->raw()));
        return;
      }
      drain();
    });
  }

  void send_status(bool reply) {
    if (!conn_) return;
    const auto flushed = flushed_();
    const auto msg = standby_status_update(std::max(flushed, owner_.server_position()), flushed, flushed,
                                           to_pg_time(std::chrono::system_clock::now()), reply);
    if (PQputCopyData(conn_->raw(), msg.data(), static_cast<int>(msg.size())) != 1) {
      lost(PQerrorMessage(conn_->raw()));
      return;
    }
    flush_output();
  }

  void flush_output() {
    if (!conn_) return;
    const int rc = PQflush(conn_->raw());
    if (rc < 0) {
      lost(PQerrorMessage(conn_->raw()));
      return;
    }
    if (rc == 1 && socket_) {
      socket_->async_wait(asio::posix::stream_descriptor::wait_write, [this](const boost::system::error_code& ec) {
        if (!ec) flush_output();
      });
    }
  }

  void arm_status_timer() {
    status_timer_.expires_after(options_.status_interval);
    status_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopping_) return;
      send_status(false);
      arm_status_timer();
    });
  }

  void close() {
    if (socket_) {
      socket_->cancel();
      (void)socket_->release();  // libpq owns the descriptor
      socket_.reset();
    }
    waiting_ = false;
    conn_.reset();
  }

  void progressed() {
    backoff_ = std::chrono::milliseconds(100);
    same_failures_ = 0;
    last_failure_.clear();
  }

  // Asks for a keepalive after half the receive timeout without data; gives the connection up
  // after all of it.
  void arm_receive_timer() {
    receive_timer_.expires_after(std::chrono::seconds(1));
    receive_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopping_) return;
      // Progress is what became durable on the target, not what arrived.
      if (flushed_() > flushed_at_connect_) {
        flushed_at_connect_ = flushed_();
        progressed();
      }
      // Waiting for the apply (a full queue) is not silence from the source.
      if (pending_) last_received_ = std::chrono::steady_clock::now();
      const auto limit = options_.receive_timeout;
      if (conn_ && limit.count() > 0) {
        const auto silent = std::chrono::steady_clock::now() - last_received_;
        if (silent >= limit) {
          lost(
              fmt::format("nothing received from the source for {} s (source.receive_timeout_s), not even a "
                          "keepalive: the walsender or the network is stuck",
                          std::chrono::duration_cast<std::chrono::seconds>(limit).count()));
        } else if (silent >= limit / 2 && !ping_sent_) {
          ping_sent_ = true;
          send_status(true);
        }
      }
      arm_receive_timer();
    });
  }

  void lost(const std::string& why, bool permanent_kind = false) {
    std::string reason = why;
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
    spdlog::warn("source replication connection lost: {}", reason);
    if (permanent_kind) {
      same_failures_ = reason == last_failure_ ? same_failures_ + 1 : 1;
      last_failure_ = reason;
      if (same_failures_ >= options_.max_identical_failures) {
        close();
        fatal(Error{ErrorCode::StateMismatch,
                    fmt::format("the source's walsender failed {} times in a row at {} without progress: {}. Fix the "
                                "cause on the source (the publication, the role's privileges, the slot), then start "
                                "crmsync again: it resumes from {}",
                                same_failures_, resume_point(), reason, resume_point())});
        return;
      }
    }
    close();
    pending_.reset();  // part of a transaction the server will send again
    in_txn_ = false;
    queue_.force_push(StreamItem{StreamItem::Kind::Reset, {}, Lsn{}, 16});
    retry(reason);
  }

  void retry(const std::string& why) {
    if (stopping_) return;
    owner_.reconnects_.fetch_add(1);
    spdlog::warn("reconnecting to the source in {} ms ({})", backoff_.count(), why);
    retry_timer_.expires_after(backoff_);
    retry_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) connect_and_start();
    });
    backoff_ = std::min(backoff_ * 2, options_.max_backoff);
  }

  void fatal(Error e) {
    spdlog::error("replication stream stopped: {}", e.message);
    {
      std::lock_guard lock(owner_.error_mutex_);
      owner_.fatal_ = std::move(e);
    }
    stopping_ = true;
    close();
    status_timer_.cancel();
    retry_timer_.cancel();
    receive_timer_.cancel();
    queue_.close();
  }

  ReplicationReader& owner_;
  ReaderOptions options_;
  StreamQueue& queue_;
  std::function<Lsn()> flushed_;
  asio::io_context io_;
  asio::steady_timer status_timer_{io_};
  asio::steady_timer retry_timer_{io_};
  asio::steady_timer receive_timer_{io_};
  std::unique_ptr<asio::posix::stream_descriptor> socket_;
  std::optional<pq::Connection> conn_;
  std::optional<StreamItem> pending_;
  Lsn start_;
  bool in_txn_ = false;
  bool waiting_ = false;
  bool stopping_ = false;
  std::chrono::milliseconds backoff_{100};
  Lsn flushed_at_connect_;
  std::chrono::steady_clock::time_point last_received_;
  bool ping_sent_ = false;
  int same_failures_ = 0;  // identical server errors in a row, without progress in between
  std::string last_failure_;
};

ReplicationReader::ReplicationReader(ReaderOptions options, StreamQueue& queue, std::function<Lsn()> flushed)
    : impl_(std::make_unique<Impl>(*this, std::move(options), queue, std::move(flushed))) {}

ReplicationReader::~ReplicationReader() {
  stop();
}

void ReplicationReader::start(Lsn start) {
  thread_ = std::thread([this, start] { impl_->run(start); });
}

void ReplicationReader::stop() {
  if (!thread_.joinable()) return;
  impl_->stop();
  thread_.join();
}

void ReplicationReader::request_keepalive() const {
  if (thread_.joinable()) impl_->ping();
}

std::optional<Error> ReplicationReader::fatal_error() const {
  std::lock_guard lock(error_mutex_);
  return fatal_;
}

}  // namespace crmsync::cdc
