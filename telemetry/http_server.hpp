#pragma once
// A small HTTP/1.1 server for the observability endpoints (Boost.Beast on one thread of its own):
// GET only, one response per connection (Connection: close), requests bounded in size and time,
// so a slow or hostile client cannot hold it. Routing is the handler's: the server knows no paths.

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace crmsync::telemetry {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

/// Called on the server's thread with the request's path (without the query string).
using HttpHandler = std::function<HttpResponse(std::string_view path)>;

class HttpServer {
 public:
  /// Binds `listen` ("host:port", "[v6]:port"; port 0 picks a free one) and starts serving.
  static Result<std::unique_ptr<HttpServer>> start(const std::string& listen, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  /// The bound address, e.g. "127.0.0.1:9187".
  [[nodiscard]] const std::string& address() const { return address_; }

 private:
  HttpServer() = default;
  class Impl;
  std::unique_ptr<Impl> impl_;
  std::string address_;
};

}  // namespace crmsync::telemetry
