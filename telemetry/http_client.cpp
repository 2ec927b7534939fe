#include "telemetry/http_client.hpp"

#include <fmt/format.h>

#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "telemetry/ip_endpoint.hpp"

namespace crmsync::telemetry {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

constexpr std::size_t kMaxReplyBytes = 4 * 1024 * 1024;

Error failed(const std::string& address, const std::string& what) {
  return Error{ErrorCode::ConnectionFailed, fmt::format("http://{}: {}", address, what), Retry::Yes};
}

}  // namespace

Result<HttpReply> http_get(const std::string& address, const std::string& path, std::chrono::milliseconds timeout) {
  auto at = detail::parse_endpoint(address, fmt::format("http://{}", address), ErrorCode::ConnectionFailed);
  if (!at) return at.take_error();
  if (at->port() == 0) return failed(address, "port 0");
  beast::error_code ec;
  asio::io_context io;
  beast::tcp_stream stream(io);
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxReplyBytes);
  beast::flat_buffer buffer;
  http::request<http::empty_body> req{http::verb::get, path, 11};
  req.set(http::field::host, address);
  req.set(http::field::user_agent, "crmsync status");
  req.keep_alive(false);
  // Asynchronous with one deadline over connect, write and read: the synchronous calls of
  // tcp_stream ignore expires_after.
  stream.expires_after(timeout);
  stream.async_connect(*at, [&](beast::error_code e) {
    if (e) {
      ec = e;
      return;
    }
    http::async_write(stream, req, [&](beast::error_code we, std::size_t) {
      if (we) {
        ec = we;
        return;
      }
      http::async_read(stream, buffer, parser, [&](beast::error_code re, std::size_t) { ec = re; });
    });
  });
  io.run();
  if (ec) return failed(address, ec.message());
  return HttpReply{static_cast<int>(parser.get().result_int()), std::move(parser.get().body())};
}

}  // namespace crmsync::telemetry
