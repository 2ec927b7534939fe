#pragma once
// Log sequence number: a position in the source's write-ahead log. A strong type over uint64_t,
// printed and parsed as PostgreSQL does ("16/B374D848": high and low 32 bits in hex).

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "core/result.hpp"

namespace crmsync {

class Lsn {
 public:
  constexpr Lsn() = default;
  constexpr explicit Lsn(std::uint64_t value) : value_(value) {}

  /// Parses "X/Y" (1-8 hex digits each side). Anything else is an error naming the text.
  static Result<Lsn> parse(std::string_view text);

  [[nodiscard]] constexpr std::uint64_t value() const { return value_; }
  [[nodiscard]] constexpr bool is_invalid() const { return value_ == 0; }
  [[nodiscard]] std::string to_string() const;

  /// Distance in bytes from `earlier` to this position; 0 if `earlier` is ahead.
  [[nodiscard]] constexpr std::uint64_t bytes_after(Lsn earlier) const {
    return value_ > earlier.value_ ? value_ - earlier.value_ : 0;
  }

  constexpr auto operator<=>(const Lsn&) const = default;

 private:
  std::uint64_t value_ = 0;  // 0 is InvalidXLogRecPtr in PostgreSQL.
};

}  // namespace crmsync

template <>
struct fmt::formatter<crmsync::Lsn> : fmt::formatter<std::string_view> {
  template <typename Ctx>
  auto format(const crmsync::Lsn& lsn, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(lsn.to_string(), ctx);
  }
};
