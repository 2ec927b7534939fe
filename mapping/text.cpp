#include "mapping/text.hpp"

#include <locale.h>
#include <wctype.h>

#include <cstdint>

namespace crmsync::mapping {
namespace {

bool is_continuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

// The length of the UTF-8 sequence starting at s[i] (1 for a stray byte, so that malformed text
// is still walked byte by byte instead of running off the end).
std::size_t sequence_length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
  if (i + n > s.size()) return 1;
  for (std::size_t k = 1; k < n; ++k) {
    if (!is_continuation(static_cast<unsigned char>(s[i + k]))) return 1;
  }
  return n;
}

std::uint32_t decode(std::string_view s, std::size_t i, std::size_t n) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (n == 1) return c;
  std::uint32_t cp = c & (0xFF >> (n + 1));
  for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return cp;
}

void encode(std::uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// C.UTF-8's LC_CTYPE, made once: its towlower/towupper cover all of Unicode whatever the
// process's own locale is. Null when the system lacks it: then only ASCII letters change.
locale_t utf8_locale() {
  static const locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  return loc;
}

template <typename Map>
std::string map_utf8(std::string_view s, Map map) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto n = sequence_length(s, i);
    const auto c = static_cast<unsigned char>(s[i]);
    if (n == 1 && c >= 0x80) {
      out += s[i];  // not UTF-8: left as it is
    } else {
      encode(map(decode(s, i, n)), out);
    }
    i += n;
  }
  return out;
}

// Latin-1: À..Þ and à..þ are 0x20 apart, except × (0xD7) and ÷ (0xF7).
char latin1_lower(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7)) return static_cast<char>(c + 0x20);
  return ch;
}
char latin1_upper(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  if ((c >= 'a' && c <= 'z') || (c >= 0xE0 && c <= 0xFE && c != 0xF7)) return static_cast<char>(c - 0x20);
  return ch;
}

bool blank_at(std::string_view s, std::size_t i, Encoding e, std::size_t& width) {
  const auto c = static_cast<unsigned char>(s[i]);
  width = 1;
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') return true;
  if (e == Encoding::SingleByte) return c == 0xA0;
  if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xA0) {
    width = 2;
    return true;
  }
  return false;
}

}  // namespace

Encoding encoding_of(std::string_view name) {
  return name == "UTF8" || name == "UTF-8" || name == "utf8" ? Encoding::Utf8 : Encoding::SingleByte;
}

std::size_t char_count(std::string_view s, Encoding e) {
  if (e == Encoding::SingleByte) return s.size();
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); i += sequence_length(s, i)) ++n;
  return n;
}

std::string_view first_chars(std::string_view s, std::size_t n, Encoding e) {
  if (e == Encoding::SingleByte) return s.substr(0, n);
  std::size_t i = 0;
  for (std::size_t k = 0; k < n && i < s.size(); ++k) i += sequence_length(s, i);
  return s.substr(0, i);
}

std::string_view trim(std::string_view s, Encoding e) {
  std::size_t width = 0;
  while (!s.empty() && blank_at(s, 0, e, width)) s.remove_prefix(width);
  while (!s.empty()) {
    if (blank_at(s, s.size() - 1, e, width)) {
      s.remove_suffix(1);
    } else if (e == Encoding::Utf8 && s.size() >= 2 && blank_at(s, s.size() - 2, e, width) && width == 2) {
      s.remove_suffix(2);
    } else {
      break;
    }
  }
  return s;
}

std::string to_lower(std::string_view s, Encoding e) {
  if (e == Encoding::SingleByte) {
    std::string out(s);
    for (auto& c : out) c = latin1_lower(c);
    return out;
  }
  return map_utf8(s, [loc = utf8_locale()](std::uint32_t cp) -> std::uint32_t {
    if (loc == static_cast<locale_t>(nullptr))
      return cp < 0x80 ? static_cast<std::uint32_t>(latin1_lower(static_cast<char>(cp))) : cp;
    return static_cast<std::uint32_t>(towlower_l(static_cast<wint_t>(cp), loc));
  });
}

std::string to_upper(std::string_view s, Encoding e) {
  if (e == Encoding::SingleByte) {
    std::string out(s);
    for (auto& c : out) c = latin1_upper(c);
    return out;
  }
  return map_utf8(s, [loc = utf8_locale()](std::uint32_t cp) -> std::uint32_t {
    if (loc == static_cast<locale_t>(nullptr))
      return cp < 0x80 ? static_cast<std::uint32_t>(latin1_upper(static_cast<char>(cp))) : cp;
    return static_cast<std::uint32_t>(towupper_l(static_cast<wint_t>(cp), loc));
  });
}

}  // namespace crmsync::mapping
