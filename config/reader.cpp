#include "config/detail/reader.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "config/detail/interpolate.hpp"
#include "config/detail/suggest.hpp"

namespace crmsync::config::detail {

namespace {

// Long values (a multi-line `where`) are cut in messages; the position says where the rest is.
constexpr std::size_t kMaxShown = 60;

bool is_plain_key(std::string_view key) {
  if (key.empty()) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

Pos pos_of(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null() || mark.line < 0 || mark.column < 0) return {};
  return {mark.line + 1, mark.column + 1};
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  out += '"';
  return out;
}

std::string child_path(const std::string& parent, std::string_view key) {
  const std::string part = is_plain_key(key) ? std::string(key) : quoted(key);
  return parent.empty() ? part : parent + "." + part;
}

std::string index_path(const std::string& parent, std::size_t index) { return fmt::format("{}[{}]", parent, index); }

void Context::error(Pos pos, std::string path, std::string message) {
  errors_.push_back(ConfigError{file_, pos.line, pos.column, std::move(path), std::move(message)});
}

std::vector<ConfigError> Context::take_errors() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  return std::move(errors_);
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      return text.size() <= kMaxShown ? quoted(text) : quoted(text.substr(0, kMaxShown) + "...");
    }
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return "null";
  }
  return "null";
}

bool expect_map(Context& ctx, const Value& v) {
  if (v.node.IsMap()) return true;
  ctx.error(v.pos, v.path, "expected a mapping, got " + describe(v.node));
  return false;
}

bool expect_list(Context& ctx, const Value& v) {
  if (v.node.IsSequence()) return true;
  ctx.error(v.pos, v.path, "expected a list, got " + describe(v.node));
  return false;
}

std::vector<Value> items_of(const Value& list) {
  std::vector<Value> out;
  std::size_t i = 0;
  for (const YAML::Node& item : list.node) {
    // A null item has no mark of its own; the list's is the nearest honest position.
    const Pos pos = item.IsNull() ? list.pos : pos_of(item);
    out.push_back(Value{item, index_path(list.path, i), pos, pos});
    ++i;
  }
  return out;
}

std::optional<Scalar> read_string(Context& ctx, const Value& v, Splice splice) {
  if (!v.node.IsScalar()) {
    ctx.error(v.pos, v.path, "expected a string, got " + describe(v.node));
    return std::nullopt;
  }
  const std::string& raw = v.node.Scalar();
  Interpolated in = interpolate(raw, ctx.env(), ctx.files(), splice);
  for (std::string& message : in.errors) ctx.error(v.pos, v.path, std::move(message));
  if (!in.errors.empty()) return std::nullopt;
  return Scalar{std::move(in.value), raw, in.substituted, v.pos};
}

std::optional<Scalar> read_nonempty(Context& ctx, const Value& v, Splice splice) {
  auto s = read_string(ctx, v, splice);
  if (!s) return std::nullopt;
  if (s->value.empty()) {
    ctx.error(v.pos, v.path, s->substituted ? fmt::format("{} expands to an empty string", s->shown())
                                            : std::string("must not be empty"));
    return std::nullopt;
  }
  return s;
}

std::optional<std::int64_t> read_int(Context& ctx, const Value& v, std::int64_t min, std::int64_t max) {
  if (!v.node.IsScalar()) {
    ctx.error(v.pos, v.path, "expected an integer, got " + describe(v.node));
    return std::nullopt;
  }
  const auto s = read_string(ctx, v);
  if (!s) return std::nullopt;
  std::int64_t n = 0;
  const char* first = s->value.data();
  const char* last = first + s->value.size();
  const auto [end, ec] = std::from_chars(first, last, n);
  const bool digits = end == last && !s->value.empty();
  if (!digits || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
    ctx.error(v.pos, v.path, "expected an integer, got " + s->shown());
    return std::nullopt;
  }
  if (ec == std::errc() && n >= min && n <= max) return n;
  // Out of int64 range falls through here too: it is a number, just far too big.
  const std::string got = s->substituted ? s->shown() : s->value;
  const bool too_small = ec == std::errc() ? n < min : s->value.front() == '-';
  if (max == INT64_MAX) {
    ctx.error(v.pos, v.path, too_small ? fmt::format("must be at least {}, got {}", min, got)
                                       : fmt::format("must be at most {}, got {}", max, got));
  } else {
    ctx.error(v.pos, v.path, fmt::format("must be between {} and {}, got {}", min, max, got));
  }
  return std::nullopt;
}

std::optional<bool> read_bool(Context& ctx, const Value& v) {
  if (!v.node.IsScalar()) {
    ctx.error(v.pos, v.path, "expected true or false, got " + describe(v.node));
    return std::nullopt;
  }
  const auto s = read_string(ctx, v);
  if (!s) return std::nullopt;
  const std::string word = ascii_lower(s->value);
  if (word == "true" || word == "yes" || word == "on") return true;
  if (word == "false" || word == "no" || word == "off") return false;
  ctx.error(v.pos, v.path, "expected true or false, got " + s->shown());
  return std::nullopt;
}

std::optional<std::size_t> read_choice(Context& ctx, const Value& v, std::string_view noun,
                                       std::span<const std::string_view> names) {
  const auto s = read_string(ctx, v);
  if (!s) return std::nullopt;
  const auto it = std::find(names.begin(), names.end(), s->value);
  if (it != names.end()) return static_cast<std::size_t>(it - names.begin());
  ctx.error(v.pos, v.path, unknown_message(noun, s->shown(), s->value, names));
  return std::nullopt;
}

Section::Section(Context& ctx, const Value& map, std::span<const std::string_view> known) : ctx_(ctx), self_(map) {
  for (auto it = map.node.begin(); it != map.node.end(); ++it) {
    // Copies: `it->` yields a temporary proxy, so references into it would dangle.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    const Pos key_pos = pos_of(key);
    if (!key.IsScalar()) {
      ctx.error(key_pos, map.path, "expected a string key, got " + describe(key));
      continue;
    }
    const std::string& name = key.Scalar();
    const auto first = std::find_if(entries_.begin(), entries_.end(), [&](const auto& e) { return e.first == name; });
    if (first != entries_.end()) {
      ctx.error(key_pos, map.path, fmt::format("duplicate key {} (first at line {})", quoted(name),
                                               first->second.key_pos.line));
      continue;
    }
    if (!known.empty() && std::find(known.begin(), known.end(), name) == known.end()) {
      ctx.error(key_pos, map.path, unknown_message("key", quoted(name), name, known));
      continue;
    }
    const Pos value_pos = value.IsNull() ? key_pos : pos_of(value);
    entries_.emplace_back(name, Value{value, child_path(map.path, name), value_pos, key_pos});
  }
}

std::optional<Value> Section::get(std::string_view key) const {
  for (const auto& [name, value] : entries_) {
    if (name == key) return value;
  }
  return std::nullopt;
}

std::optional<Value> Section::require(std::string_view key) const {
  auto v = get(key);
  if (!v) ctx_.error(self_.key_pos, self_.path, fmt::format("missing required key {}", quoted(key)));
  return v;
}

}  // namespace crmsync::config::detail
