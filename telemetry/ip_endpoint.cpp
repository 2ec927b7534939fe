#include "telemetry/ip_endpoint.hpp"

#include <fmt/format.h>

namespace crmsync::telemetry::detail {

Result<boost::asio::ip::tcp::endpoint> parse_endpoint(const std::string& text, const std::string& what,
                                                      ErrorCode code) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return Error{code, fmt::format("{}: expected host:port, got \"{}\"", what, text)};
  auto host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned long port = 70000;
  try {
    port = std::stoul(text.substr(colon + 1));
  } catch (const std::exception&) {
  }
  if (port > 65535) return Error{code, fmt::format("{}: bad port in \"{}\"", what, text)};
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) {
    return Error{code, fmt::format("{}: \"{}\" is not an IP address (name resolution is not done here)", what, host)};
  }
  return boost::asio::ip::tcp::endpoint(address, static_cast<unsigned short>(port));
}

}  // namespace crmsync::telemetry::detail
