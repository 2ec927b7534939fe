#pragma once
// "host:port", "[v6]:port" or "localhost:port" to an IP endpoint: what http.listen says and what
// `crmsync status` reads back from state_dir/http.address. Internal to telemetry (it includes
// Boost.Asio). No name resolution: the text must hold an IP address (or localhost).

#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "core/result.hpp"

namespace crmsync::telemetry::detail {

/// Errors have `code` and start with `what` ("http.listen", "daemon address").
Result<boost::asio::ip::tcp::endpoint> parse_endpoint(const std::string& text, const std::string& what, ErrorCode code);

}  // namespace crmsync::telemetry::detail
