#include "core/date_pattern.hpp"

#include <fmt/format.h>

#include <cctype>

namespace crmsync {
namespace {

bool leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}

// Up to `max` digits at `i` (at least one); advances i.
std::optional<int> digits(std::string_view s, std::size_t& i, std::size_t min, std::size_t max) {
  std::size_t n = 0;
  int v = 0;
  while (i + n < s.size() && n < max && std::isdigit(static_cast<unsigned char>(s[i + n])) != 0) {
    v = v * 10 + (s[i + n] - '0');
    ++n;
  }
  if (n < min) return std::nullopt;
  i += n;
  return v;
}

}  // namespace

Result<DatePattern> DatePattern::parse(std::string_view pattern) {
  DatePattern out;
  int seen[6] = {};
  static constexpr std::pair<std::string_view, Part> kTokens[] = {{"YYYY", Part::Year}, {"HH24", Part::Hour},
                                                                  {"MM", Part::Month},  {"DD", Part::Day},
                                                                  {"MI", Part::Minute}, {"SS", Part::Second}};
  for (std::size_t i = 0; i < pattern.size();) {
    bool matched = false;
    for (const auto& [text, part] : kTokens) {
      if (pattern.substr(i, text.size()) != text) continue;
      if (++seen[static_cast<int>(part)] > 1) {
        return Error{ErrorCode::InvalidArgument, fmt::format("{} appears twice in date format \"{}\"", text, pattern)};
      }
      out.tokens_.push_back({part});
      out.has_time_ = out.has_time_ || part == Part::Hour || part == Part::Minute || part == Part::Second;
      i += text.size();
      matched = true;
      break;
    }
    if (matched) continue;
    if (std::isalpha(static_cast<unsigned char>(pattern[i])) != 0) {
      return Error{ErrorCode::InvalidArgument,
                   fmt::format("unknown token at \"{}\" in date format \"{}\" (known: YYYY, MM, DD, "
                               "HH24, MI, SS)",
                               pattern.substr(i), pattern)};
    }
    out.tokens_.push_back({Part::Literal, pattern[i]});
    ++i;
  }
  if (seen[0] == 0 || seen[1] == 0 || seen[2] == 0) {
    return Error{ErrorCode::InvalidArgument, fmt::format("date format \"{}\" needs YYYY, MM and DD", pattern)};
  }
  return out;
}

std::optional<std::string> DatePattern::to_iso(std::string_view text) const {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())) != 0) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) text.remove_suffix(1);
  int v[6] = {0, 0, 0, 0, 0, 0};
  std::size_t i = 0;
  for (const auto& t : tokens_) {
    if (t.part == Part::Literal) {
      if (i >= text.size() || text[i] != t.literal) return std::nullopt;
      ++i;
      continue;
    }
    const bool year = t.part == Part::Year;
    auto n = digits(text, i, year ? 4 : 1, year ? 4 : 2);
    if (!n) return std::nullopt;
    v[static_cast<int>(t.part)] = *n;
  }
  if (i != text.size()) return std::nullopt;
  const int y = v[0], m = v[1], d = v[2];
  if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in(y, m)) return std::nullopt;
  if (v[3] > 23 || v[4] > 59 || v[5] > 59) return std::nullopt;
  if (!has_time_) return fmt::format("{:04}-{:02}-{:02}", y, m, d);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", y, m, d, v[3], v[4], v[5]);
}

}  // namespace crmsync
