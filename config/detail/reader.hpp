#pragma once
// Internal: walking a YAML tree while collecting every problem instead of stopping at the first.
// Readers return nullopt after reporting; callers carry on with the next key.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/detail/interpolate.hpp"
#include "config/loader.hpp"

namespace crmsync::config::detail {

/// 1-based position; {0, 0} when yaml-cpp has none.
struct Pos {
  int line = 0;
  int column = 0;
};
Pos pos_of(const YAML::Node& node);

/// s in double quotes with '"' and '\' escaped, for messages.
std::string quoted(std::string_view s);
/// "source" + "dsn" -> "source.dsn"; keys that are not plain words are quoted: columns."e-mail".
std::string child_path(const std::string& parent, std::string_view key);
/// "mappings" + 2 -> "mappings[2]" (0-based).
std::string index_path(const std::string& parent, std::size_t index);

class Context {
 public:
  Context(std::string file, const EnvLookup& env, const FileReader& files)
      : file_(std::move(file)), env_(env), files_(files) {}

  void error(Pos pos, std::string path, std::string message);
  [[nodiscard]] std::size_t error_count() const { return errors_.size(); }
  /// In file order (stable, so problems at one spot keep the order they were found in).
  std::vector<ConfigError> take_errors();

  [[nodiscard]] const EnvLookup& env() const { return env_; }
  [[nodiscard]] const FileReader& files() const { return files_; }

 private:
  std::string file_;
  const EnvLookup& env_;
  const FileReader& files_;
  std::vector<ConfigError> errors_;
};

/// A node, its key path, and where to point at it.
struct Value {
  YAML::Node node;
  std::string path;
  Pos pos;      // the value; for a null value, its key (yaml-cpp marks nulls at the next token)
  Pos key_pos;  // the key or list item that introduces it: where a missing key is reported
};

/// A scalar after ${...} interpolation.
struct Scalar {
  std::string value;
  std::string raw;  // as written in the file
  bool substituted = false;
  Pos pos;
  /// Quoted text safe for messages: the raw text when something was substituted (secrets).
  [[nodiscard]] std::string shown() const { return quoted(substituted ? raw : value); }
};

/// For "expected X, got Y": "a list", "a mapping", "null", or the scalar as written, quoted.
std::string describe(const YAML::Node& node);

bool expect_map(Context& ctx, const Value& v);
bool expect_list(Context& ctx, const Value& v);
/// The items of a list (call expect_list first), with paths "x[i]".
std::vector<Value> items_of(const Value& list);

std::optional<Scalar> read_string(Context& ctx, const Value& v, Splice splice = Splice::Raw);
/// A string that must not be empty (after interpolation).
std::optional<Scalar> read_nonempty(Context& ctx, const Value& v, Splice splice = Splice::Raw);
std::optional<std::int64_t> read_int(Context& ctx, const Value& v, std::int64_t min, std::int64_t max);
/// true/false (also yes/no/on/off, as YAML 1.1 and yaml-cpp accept), any case.
std::optional<bool> read_bool(Context& ctx, const Value& v);
/// Index into `names` of the value, or an "unknown <noun>" error with a suggestion.
std::optional<std::size_t> read_choice(Context& ctx, const Value& v, std::string_view noun,
                                       std::span<const std::string_view> names);

/// A mapping whose keys are checked once, on construction: non-string keys, duplicate keys
/// (YAML forbids them but yaml-cpp keeps both) and, when `known` is not empty, unknown keys
/// with a did-you-mean. The first of two duplicate keys wins.
class Section {
 public:
  Section(Context& ctx, const Value& map, std::span<const std::string_view> known);

  [[nodiscard]] std::optional<Value> get(std::string_view key) const;
  /// Like get, but reports "missing required key" at the section's key when absent.
  std::optional<Value> require(std::string_view key) const;
  [[nodiscard]] const std::vector<std::pair<std::string, Value>>& entries() const { return entries_; }

 private:
  Context& ctx_;
  Value self_;
  std::vector<std::pair<std::string, Value>> entries_;
};

}  // namespace crmsync::config::detail
