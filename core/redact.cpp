#include "core/redact.hpp"

#include <algorithm>
#include <cctype>

namespace crmsync {
namespace {

constexpr std::string_view kMask = "********";

bool is_secret_key(std::string_view key) {
  std::string lower(key);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower == "password" || lower == "sslpassword";
}

bool is_uri(std::string_view dsn) { return dsn.starts_with("postgresql://") || dsn.starts_with("postgres://"); }

std::string redact_uri(std::string_view dsn) {
  std::string out(dsn);
  const auto scheme_end = out.find("://") + 3;
  // userinfo: everything before the first '@' that precedes the path/query.
  const auto authority_end = out.find_first_of("/?", scheme_end);
  const auto at = out.rfind('@', authority_end == std::string::npos ? out.size() : authority_end);
  if (at != std::string::npos && at >= scheme_end) {
    const auto colon = out.find(':', scheme_end);
    if (colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, kMask);
    }
  }
  // query parameters: ?a=b&password=c
  auto q = out.find('?');
  while (q != std::string::npos) {
    const auto key_start = q + 1;
    const auto eq = out.find('=', key_start);
    const auto amp = out.find('&', key_start);
    if (eq != std::string::npos && (amp == std::string::npos || eq < amp)) {
      const auto value_end = amp == std::string::npos ? out.size() : amp;
      if (is_secret_key(std::string_view(out).substr(key_start, eq - key_start))) {
        out.replace(eq + 1, value_end - eq - 1, kMask);
      }
    }
    q = out.find('&', key_start);
  }
  return out;
}

// key = value pairs separated by whitespace; a value may be single-quoted with \' and \\ escapes.
std::string redact_keyvalue(std::string_view dsn) {
  std::string out;
  out.reserve(dsn.size());
  std::size_t i = 0;
  while (i < dsn.size()) {
    if (std::isspace(static_cast<unsigned char>(dsn[i])) != 0) {
      out += dsn[i++];
      continue;
    }
    const auto key_start = i;
    while (i < dsn.size() && dsn[i] != '=' && std::isspace(static_cast<unsigned char>(dsn[i])) == 0) {
      ++i;
    }
    const auto key = dsn.substr(key_start, i - key_start);
    out += key;
    while (i < dsn.size() && (dsn[i] == '=' || std::isspace(static_cast<unsigned char>(dsn[i])) != 0)) {
      out += dsn[i++];
    }
    const auto value_start = i;
    if (i < dsn.size() && dsn[i] == '\'') {
      ++i;
      while (i < dsn.size() && dsn[i] != '\'') {
        i += (dsn[i] == '\\' && i + 1 < dsn.size()) ? 2 : 1;
      }
      i = std::min(i + 1, dsn.size());
    } else {
      while (i < dsn.size() && std::isspace(static_cast<unsigned char>(dsn[i])) == 0) {
        i += (dsn[i] == '\\' && i + 1 < dsn.size()) ? 2 : 1;
      }
    }
    out += is_secret_key(key) ? std::string(kMask) : std::string(dsn.substr(value_start, i - value_start));
  }
  return out;
}

}  // namespace

std::string redact_dsn(std::string_view dsn) { return is_uri(dsn) ? redact_uri(dsn) : redact_keyvalue(dsn); }

}  // namespace crmsync
