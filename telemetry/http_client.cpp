#include "telemetry/http_client.hpp"

#include <fmt/format.h>

#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace crmsync::telemetry {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::size_t kMaxReplyBytes = 4 * 1024 * 1024;

Error failed(const std::string& address, const std::string& what) {
  return Error{ErrorCode::ConnectionFailed, fmt::format("http://{}: {}", address, what), Retry::Yes};
}

}  // namespace

Result<HttpReply> http_get(const std::string& address, const std::string& path, std::chrono::milliseconds timeout) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) return failed(address, "not host:port");
  auto host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned long port = 0;
  try {
    port = std::stoul(address.substr(colon + 1));
  } catch (const std::exception&) {
    return failed(address, "bad port");
  }
  if (port == 0 || port > 65535) return failed(address, "bad port");
  beast::error_code ec;
  const auto ip = asio::ip::make_address(host, ec);
  if (ec) return failed(address, "not an IP address");

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
  stream.async_connect(tcp::endpoint(ip, static_cast<unsigned short>(port)), [&](beast::error_code e) {
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
