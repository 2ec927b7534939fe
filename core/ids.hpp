#pragma once
// Strong identifier types. An Xid is not an Oid, and neither is a bare integer: mixing them up is
// a compile error rather than a wrong row.

#include <compare>
#include <cstdint>
#include <functional>

#include <fmt/format.h>

namespace crmsync {

template <typename Tag, typename Rep>
class StrongId {
 public:
  using rep = Rep;
  constexpr StrongId() = default;
  constexpr explicit StrongId(Rep value) : value_(value) {}
  [[nodiscard]] constexpr Rep value() const { return value_; }
  constexpr auto operator<=>(const StrongId&) const = default;

 private:
  Rep value_{};
};

/// PostgreSQL transaction id (32-bit, as pgoutput sends it).
using Xid = StrongId<struct XidTag, std::uint32_t>;
/// PostgreSQL object id (relations, types).
using Oid = StrongId<struct OidTag, std::uint32_t>;

}  // namespace crmsync

template <typename Tag, typename Rep>
struct std::hash<crmsync::StrongId<Tag, Rep>> {
  std::size_t operator()(const crmsync::StrongId<Tag, Rep>& id) const noexcept { return std::hash<Rep>{}(id.value()); }
};

template <typename Tag, typename Rep>
struct fmt::formatter<crmsync::StrongId<Tag, Rep>> : fmt::formatter<Rep> {
  template <typename Ctx>
  auto format(const crmsync::StrongId<Tag, Rep>& id, Ctx& ctx) const {
    return fmt::formatter<Rep>::format(id.value(), ctx);
  }
};
