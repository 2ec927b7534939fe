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

bool is_uri(std::string_view text) { return text.starts_with("postgresql://") || text.starts_with("postgres://"); }

// In a key=value string libpq takes a backslash before any character literally, inside quotes
// and in a bare value alike; an empty bare value would swallow the next keyword, so it is ''.
std::string escape_conninfo(std::string_view value, bool inside_quotes) {
  if (value.empty()) return inside_quotes ? "" : "''";
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '\'' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') out += '\\';
    out += c;
  }
  return out;
}

std::string percent_encode(std::string_view value) {
  std::string out;
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += c;
    } else {
      out += fmt::format("%{:02X}", u);
    }
  }
  return out;
}

// Appends the expansion of one "${inner}" to out, or records why it cannot be expanded. Messages
// name the variable or path (written in the config, not secret), never the value.
std::optional<std::string> expand(std::string_view inner, const EnvLookup& env, const FileReader& files,
                                  Interpolated& out) {
  if (inner.starts_with(kFilePrefix)) {
    const std::string path(inner.substr(kFilePrefix.size()));
    if (path.empty()) {
      out.errors.emplace_back("empty file path in \"${file:}\"");
      return std::nullopt;
    }
    if (path.front() != '/') {
      out.errors.push_back(fmt::format("secret file path \"{}\" must be absolute", path));
      return std::nullopt;
    }
    auto contents = files ? files(path) : std::nullopt;
    if (!contents) {
      out.errors.push_back(fmt::format("cannot read secret file \"{}\"", path));
      return std::nullopt;
    }
    return strip_one_newline(std::move(*contents));
  }
  if (!valid_var_name(inner)) {
    out.errors.push_back(inner.empty() ? std::string("empty variable name in \"${}\"")
                                       : fmt::format("invalid variable name \"{}\" in \"${{...}}\": use letters, "
                                                     "digits and underscores, or \"${{file:/path}}\"",
                                                     inner));
    return std::nullopt;
  }
  const std::string name(inner);
  auto value = env ? env(name) : std::nullopt;
  if (!value) {
    out.errors.push_back(fmt::format("environment variable \"{}\" is not set", name));
    return std::nullopt;
  }
  return value;
}

}  // namespace

Interpolated interpolate(std::string_view text, const EnvLookup& env, const FileReader& files, Splice splice) {
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
    auto value = expand(text.substr(i + 2, close - i - 2), env, files, out);
    if (value) {
      // A value that is the whole string (dsn: "${DATABASE_URL}") is a connection string of its
      // own: spliced as it is. Only a value inside a connection string is escaped.
      const bool whole = i == 0 && close + 1 == text.size();
      if (splice == Splice::Raw || whole) {
        out.value += *value;
      } else if (is_uri(text)) {
        // Only user, password and query values are encoded: a host list (h1:5432,h2:5432) is
        // split by libpq before decoding, so it is spliced as written.
        const auto scheme_end = text.find("://") + 3;
        const auto at_sign = text.find('@', scheme_end);
        const auto query = text.find('?', scheme_end);
        const bool userinfo = at_sign != std::string_view::npos && i < at_sign;
        const bool in_query = query != std::string_view::npos && i > query;
        out.value += userinfo || in_query ? percent_encode(*value) : *value;
      } else {
        const bool quoted = !out.value.empty() && out.value.back() == '\'' && close + 1 < text.size() &&
                            text[close + 1] == '\'';
        // An empty value standing alone after "key=" must be written '' or libpq would take the
        // next keyword as the value; inside a word or quotes it is simply nothing.
        const auto before = out.value.find_last_not_of(' ');
        const bool alone = before != std::string::npos && out.value[before] == '=' &&
                           (close + 1 == text.size() || text[close + 1] == ' ');
        out.value += escape_conninfo(*value, quoted || !alone);
      }
    }
    i = close + 1;
  }
  return out;
}

}  // namespace crmsync::config::detail
