#include "telemetry/http_server.hpp"

#include <fmt/format.h>

#include <chrono>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "telemetry/ip_endpoint.hpp"

namespace crmsync::telemetry {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr auto kTimeout = std::chrono::seconds(5);
constexpr std::size_t kMaxRequestBytes = 16 * 1024;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpHandler& handler) : stream_(std::move(socket)), handler_(handler) {
    parser_.header_limit(kMaxRequestBytes);
    parser_.body_limit(kMaxRequestBytes);
  }

  void run() {
    stream_.expires_after(kTimeout);
    http::async_read(stream_, buffer_, parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (!ec) self->respond();
    });
  }

 private:
  void respond() {
    const auto& req = parser_.get();
    std::string_view target(req.target().data(), req.target().size());
    if (const auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    HttpResponse out;
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      out = {405, "text/plain; charset=utf-8", "only GET\n"};
    } else {
      try {
        out = handler_(target);
      } catch (const std::exception& e) {
        out = {500, "text/plain; charset=utf-8", fmt::format("internal error: {}\n", e.what())};
      }
    }
    res_.result(static_cast<http::status>(out.status));
    res_.version(req.version());
    res_.set(http::field::server, "crmsync");
    res_.set(http::field::content_type, out.content_type);
    res_.set(http::field::cache_control, "no-store");
    res_.keep_alive(false);
    if (req.method() != http::verb::head) res_.body() = std::move(out.body);
    res_.prepare_payload();
    stream_.expires_after(kTimeout);
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code, std::size_t) {
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request_parser<http::string_body> parser_;
  http::response<http::string_body> res_;
  const HttpHandler& handler_;
};

}  // namespace

class HttpServer::Impl {
 public:
  explicit Impl(HttpHandler handler) : handler_(std::move(handler)) {}

  Status bind(const tcp::endpoint& at) {
    boost::system::error_code ec;
    acceptor_.open(at.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(at, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Error{ErrorCode::ConfigInvalid,
                   fmt::format("http.listen: cannot listen on {}:{}: {} (another crmsync or exporter on that port? "
                               "set http.listen to a free one, or off)",
                               at.address().to_string(), at.port(), ec.message())};
    }
    return {};
  }

  std::string address() const {
    const auto at = acceptor_.local_endpoint();
    return at.address().is_v6() ? fmt::format("[{}]:{}", at.address().to_string(), at.port())
                                : fmt::format("{}:{}", at.address().to_string(), at.port());
  }

  void start() {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }

  ~Impl() {
    asio::post(io_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
    });
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void accept() {
    acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) std::make_shared<Session>(std::move(socket), handler_)->run();
      accept();
    });
  }

  HttpHandler handler_;
  asio::io_context io_{1};
  tcp::acceptor acceptor_{io_};
  std::thread thread_;
};

Result<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& listen, HttpHandler handler) {
  auto at = detail::parse_endpoint(listen, "http.listen", ErrorCode::ConfigInvalid);
  if (!at) return at.take_error();
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->impl_ = std::make_unique<Impl>(std::move(handler));
  if (auto ok = server->impl_->bind(*at); !ok) return ok.take_error();
  server->address_ = server->impl_->address();
  server->impl_->start();
  return server;
}

HttpServer::~HttpServer() = default;

}  // namespace crmsync::telemetry
