#include "config/detail/suggest.hpp"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

namespace crmsync::config::detail {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool has_prefix_ci(std::string_view text, std::string_view prefix) {
  if (prefix.size() > text.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (lower(text[i]) != lower(prefix[i])) return false;
  }
  return true;
}

}  // namespace

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Three rolling rows are enough for the adjacent-swap rule, which looks two rows back.
  const std::size_t n = b.size();
  std::vector<std::size_t> before(n + 1), prev(n + 1), cur(n + 1);
  for (std::size_t j = 0; j <= n; ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= n; ++j) {
      const std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) && lower(a[i - 2]) == lower(b[j - 1])) {
        cur[j] = std::min(cur[j], before[j - 2] + 1);
      }
    }
    std::swap(before, prev);
    std::swap(prev, cur);
  }
  return prev[n];
}

std::optional<std::string_view> closest(std::string_view word, std::span<const std::string_view> candidates) {
  // A third of the word's length, so short words only tolerate one slip and "xml" never becomes
  // "text"; capped so long words do not match everything.
  const std::size_t budget = std::clamp<std::size_t>(word.size() / 3, 1, 3);
  std::optional<std::string_view> best;
  std::size_t best_distance = budget + 1;
  for (const std::string_view candidate : candidates) {
    const std::size_t d = edit_distance(word, candidate);
    if (d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  if (best) return best;
  // "warning" for "warn", "err" for "error": a word that is a prefix of the other is a good guess
  // even when the lengths differ too much for the distance budget.
  for (const std::string_view candidate : candidates) {
    const bool related = word.size() >= 3 && (has_prefix_ci(word, candidate) || has_prefix_ci(candidate, word));
    if (related && candidate.size() >= 3) return candidate;
  }
  return std::nullopt;
}

std::string unknown_message(std::string_view noun, std::string_view shown, std::string_view word,
                            std::span<const std::string_view> candidates) {
  if (const auto guess = closest(word, candidates)) {
    return fmt::format("unknown {} {} (did you mean \"{}\"?)", noun, shown, *guess);
  }
  return fmt::format("unknown {} {} (expected one of: {})", noun, shown, fmt::join(candidates, ", "));
}

}  // namespace crmsync::config::detail
