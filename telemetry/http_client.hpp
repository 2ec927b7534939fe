#pragma once
// One HTTP GET to a running daemon's endpoint (`crmsync status` asks /status). Bounded in time
// and size: a daemon that hangs or answers garbage is an error, never a hang.

#include <chrono>
#include <string>

#include "core/result.hpp"

namespace crmsync::telemetry {

struct HttpReply {
  int status = 0;
  std::string body;
};

/// GET http://`address``path`; `address` as HttpServer::address() writes it ("127.0.0.1:9187").
Result<HttpReply> http_get(const std::string& address, const std::string& path, std::chrono::milliseconds timeout);

}  // namespace crmsync::telemetry
