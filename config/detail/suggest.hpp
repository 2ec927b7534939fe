#pragma once
// Internal: "did you mean ...?" for misspelt keys and values.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace crmsync::config::detail {

/// Optimal-string-alignment distance, case-insensitive (ASCII): insertions, deletions,
/// substitutions and swaps of two adjacent characters each cost 1, so "tabels" is 1 from "tables".
std::size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate a typo most likely meant, or nullopt when none is close enough to be a useful
/// guess. Ties go to the earlier candidate, so list candidates most-common first.
std::optional<std::string_view> closest(std::string_view word, std::span<const std::string_view> candidates);

/// "unknown <noun> \"word\" (did you mean \"x\"?)", or with the list of allowed values when no
/// candidate is close. `shown` is the word as it may appear in a message (see Scalar::shown).
std::string unknown_message(std::string_view noun, std::string_view shown, std::string_view word,
                            std::span<const std::string_view> candidates);

}  // namespace crmsync::config::detail
