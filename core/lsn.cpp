#include "core/lsn.hpp"

#include <charconv>

namespace crmsync {
namespace {

// Parses 1-8 hex digits that make up the whole of `part`.
bool parse_hex32(std::string_view part, std::uint32_t& out) {
  if (part.empty() || part.size() > 8) {
    return false;
  }
  const char* end = part.data() + part.size();
  auto [ptr, ec] = std::from_chars(part.data(), end, out, 16);
  return ec == std::errc{} && ptr == end;
}

}  // namespace

Result<Lsn> Lsn::parse(std::string_view text) {
  const auto slash = text.find('/');
  std::uint32_t hi = 0;
  std::uint32_t lo = 0;
  if (slash == std::string_view::npos || !parse_hex32(text.substr(0, slash), hi) ||
      !parse_hex32(text.substr(slash + 1), lo)) {
    return Error{ErrorCode::InvalidArgument,
                 fmt::format("invalid LSN \"{}\": expected two hex numbers as X/Y, e.g. 16/B374D848", text)};
  }
  return Lsn{(static_cast<std::uint64_t>(hi) << 32) | lo};
}

std::string Lsn::to_string() const {
  return fmt::format("{:X}/{:X}", static_cast<std::uint32_t>(value_ >> 32), static_cast<std::uint32_t>(value_));
}

}  // namespace crmsync
