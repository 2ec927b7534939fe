#pragma once
// What a configuration edit changed, for SIGHUP: the key paths ("apply.linger_us",
// "source.tables", "mappings") whose values differ between two versions of the file's text.
// A sequence is one value (an edit anywhere in `mappings` reports "mappings"); a key present in
// one version only is a change. Both texts are expected to have loaded without errors already.

#include <string>
#include <string_view>
#include <vector>

namespace crmsync::config {

/// Sorted, without duplicates. Empty when the two documents hold the same values (comments,
/// quoting, key order and layout do not count).
std::vector<std::string> changed_keys(std::string_view before, std::string_view after);

}  // namespace crmsync::config
