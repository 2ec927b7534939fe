#include "cdc/replication_reader.hpp"

#include <libpq-fe.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

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
    io_.run();
  }

  void stop() {
    asio::post(io_, [this] {
      stopping_ = true;
      send_status(false);
      close();
      status_timer_.cancel();
      retry_timer_.cancel();
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
    auto started = conn->exec(fmt::format(
        "START_REPLICATION SLOT {} LOGICAL {} (proto_version '1', publication_names {}, messages 'true')",
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
    backoff_ = std::chrono::milliseconds(100);
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
      lost(n == -1 ? std::string("the source ended the replication stream")
                   : fmt::format("{}", PQerrorMessage(conn_->raw())));
      return;
    }
  }

  Status handle(std::string_view data) {
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
    StreamItem item{StreamItem::Kind::Message, std::move(message).value(), x.wal_start, x.payload.size() * 2 + 128,
                    false, commit ? std::chrono::system_clock::now() : std::chrono::system_clock::time_point{}};
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

  void lost(const std::string& why) {
    std::string reason = why;
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
    spdlog::warn("source replication connection lost: {}", reason);
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
    queue_.close();
  }

  ReplicationReader& owner_;
  ReaderOptions options_;
  StreamQueue& queue_;
  std::function<Lsn()> flushed_;
  asio::io_context io_;
  asio::steady_timer status_timer_{io_};
  asio::steady_timer retry_timer_{io_};
  std::unique_ptr<asio::posix::stream_descriptor> socket_;
  std::optional<pq::Connection> conn_;
  std::optional<StreamItem> pending_;
  Lsn start_;
  bool in_txn_ = false;
  bool waiting_ = false;
  bool stopping_ = false;
  std::chrono::milliseconds backoff_{100};
};

ReplicationReader::ReplicationReader(ReaderOptions options, StreamQueue& queue, std::function<Lsn()> flushed)
    : impl_(std::make_unique<Impl>(*this, std::move(options), queue, std::move(flushed))) {}

ReplicationReader::~ReplicationReader() { stop(); }

void ReplicationReader::start(Lsn start) {
  thread_ = std::thread([this, start] { impl_->run(start); });
}

void ReplicationReader::stop() {
  if (!thread_.joinable()) return;
  impl_->stop();
  thread_.join();
}

std::optional<Error> ReplicationReader::fatal_error() const {
  std::lock_guard lock(error_mutex_);
  return fatal_;
}

}  // namespace crmsync::cdc
