#include "telemetry/format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>

namespace crmsync::telemetry {

std::string grouped(double v) {
  const auto digits = fmt::format("{:.0f}", std::max(0.0, v));
  // Built forwards (not by insert: GCC 12 warns falsely on string::insert, -Wrestrict).
  std::string out;
  out.reserve(digits.size() + digits.size() / 3);
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string duration_text(double s) {
  if (s < 1) return fmt::format("{:.0f} ms", s * 1000);
  if (s < 120) return fmt::format("{:.1f} s", s);
  if (s < 7200) return fmt::format("{:.0f} min", s / 60);
  return fmt::format("{:.1f} h", s / 3600);
}

std::string bytes_text(std::int64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", std::max<std::int64_t>(bytes, 0));
  constexpr const char* kUnits[] = {"kB", "MB", "GB", "TB"};
  auto v = static_cast<double>(bytes) / 1024;
  std::size_t unit = 0;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", v, kUnits[unit]);
}

}  // namespace crmsync::telemetry
