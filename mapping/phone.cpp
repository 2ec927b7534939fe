#include "mapping/phone.hpp"

#include <fmt/format.h>

#include <cctype>

#include "core/calling_codes.hpp"

namespace crmsync::mapping {
namespace {

bool digit(char c) {
  return c >= '0' && c <= '9';
}

// Separators people type between digit groups.
bool separator(char c) {
  return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/' || c == '\t';
}

}  // namespace

bool is_e164(std::string_view s) {
  if (s.size() < 9 || s.size() > 16 || s[0] != '+' || s[1] == '0') return false;
  for (std::size_t i = 1; i < s.size(); ++i) {
    if (!digit(s[i])) return false;
  }
  return true;
}

std::variant<std::string, PhoneError> to_e164(std::string_view text, std::string_view default_country) {
  const auto country = calling_code(default_country);
  if (!country) return PhoneError{fmt::format("unknown default country \"{}\"", default_country)};
  bool plus = false;
  std::string digits;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (digit(c)) {
      digits += c;
    } else if (c == '+' && digits.empty() && !plus) {
      plus = true;
    } else if (separator(c)) {
      continue;
    } else if (std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '#' || c == ',' || c == ';') {
      const bool extension = !digits.empty() && (c == 'x' || c == 'X' || c == 'e' || c == 'E' || c == '#');
      return PhoneError{extension ? "has an extension or text after the number: keep it in a column of its own"
                                  : "contains letters: not a phone number"};
    } else {
      return PhoneError{fmt::format("contains '{}': not a phone number", c)};
    }
  }
  if (digits.empty()) return PhoneError{"has no digits"};
  std::string international;
  const bool nanp = country->code == "1";
  if (plus) {
    international = digits;
  } else if (digits.starts_with("00")) {
    international = digits.substr(2);
  } else if (nanp && digits.starts_with("011")) {
    international = digits.substr(3);
  } else {
    std::string national = digits;
    if (nanp && national.size() == 11 && national[0] == '1') national.erase(0, 1);
    if (nanp && national.size() != 10) {
      return PhoneError{fmt::format("has {} digits: a national number of {} has 10", national.size(), default_country)};
    }
    if (country->trunk_zero && national.starts_with('0')) national.erase(0, 1);
    international = std::string(country->code) + national;
  }
  if (international.empty() || international[0] == '0')
    return PhoneError{"has no country code after the international prefix"};
  // North American numbers have exactly ten digits after the 1, whichever way they were written
  // ("+1 212 555 01" is a digit short, not a number of another country).
  if (international[0] == '1' && international.size() != 11) {
    return PhoneError{fmt::format("has {} digits after +1: a North American number has 10", international.size() - 1)};
  }
  if (international.size() < 8 || international.size() > 15) {
    return PhoneError{
        fmt::format("has {} digits with its country code: E.164 numbers have 8 to 15", international.size())};
  }
  return "+" + international;
}

}  // namespace crmsync::mapping
