#include "config/detail/interpolate.hpp"

#include <fmt/format.h>

namespace crmsync::config::detail {

namespace {

constexpr std::string_view kFilePrefix = "file:";

bool is_var_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool is_var_char(char c) { return is_var_start(c) || (c >= '0' && c <= '9'); }

bool valid_var_name(std::string_view name) {
  if (name.empty() || !is_var_start(name.front())) return false;
  for (const char c : name) {
    if (!is_var_char(c)) return false;
  }
  return true;
}

// A secret file usually ends with the newline an editor or `echo` added; the secret does not.
std::string strip_one_newline(std::string text) {
  if (!text.empty() && text.back() == '\n') {
    text.pop_back();
    if (!text.empty() && text.back() == '\r') text.pop_back();
  }
  return text;
}

// Appends the expansion of one "${inner}" to out, or records why it cannot be expanded. Messages
// name the variable or path (written in the config, not secret), never the value.
void expand(std::string_view inner, const EnvLookup& env, const FileReader& files, Interpolated& out) {
  if (inner.starts_with(kFilePrefix)) {
    const std::string path(inner.substr(kFilePrefix.size()));
    if (path.empty()) {
      out.errors.emplace_back("empty file path in \"${file:}\"");
      return;
    }
    if (path.front() != '/') {
      out.errors.push_back(fmt::format("secret file path \"{}\" must be absolute", path));
      return;
    }
    auto contents = files ? files(path) : std::nullopt;
    if (!contents) {
      out.errors.push_back(fmt::format("cannot read secret file \"{}\"", path));
      return;
    }
    out.value += strip_one_newline(std::move(*contents));
    return;
  }
  if (!valid_var_name(inner)) {
    out.errors.push_back(inner.empty() ? std::string("empty variable name in \"${}\"")
                                       : fmt::format("invalid variable name \"{}\" in \"${{...}}\": use letters, "
                                                     "digits and underscores, or \"${{file:/path}}\"",
                                                     inner));
    return;
  }
  const std::string name(inner);
  auto value = env ? env(name) : std::nullopt;
  if (!value) {
    out.errors.push_back(fmt::format("environment variable \"{}\" is not set", name));
    return;
  }
  out.value += *value;
}

}  // namespace

Interpolated interpolate(std::string_view text, const EnvLookup& env, const FileReader& files) {
  Interpolated out;
  if (text.find('$') == std::string_view::npos) {
    out.value = std::string(text);
    return out;
  }
  out.value.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const char next = i + 1 < text.size() ? text[i + 1] : '\0';
    if (c != '$' || (next != '$' && next != '{')) {
      out.value += c;
      ++i;
      continue;
    }
    out.substituted = true;
    if (next == '$') {
      out.value += '$';
      i += 2;
      continue;
    }
    const std::size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      out.errors.emplace_back("unterminated \"${\" (write \"$${\" for a literal \"${\")");
      return out;
    }
    expand(text.substr(i + 2, close - i - 2), env, files, out);
    i = close + 1;
  }
  return out;
}

}  // namespace crmsync::config::detail
