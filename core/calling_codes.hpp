#pragma once
// Country calling codes (ITU-T E.164) by ISO 3166-1 alpha-2 code, and whether national numbers
// start with a trunk prefix 0 that the international form drops. Used by config/ to validate an
// `e164` default country and by mapping/ to apply it. Covers the countries CRM data most often
// comes from; a country not listed is a config error, never a guess.

#include <optional>
#include <string_view>

namespace crmsync {

struct CallingCode {
  std::string_view country;  // "DE"
  std::string_view code;     // "49"
  bool trunk_zero;           // "030 1234567" -> "+49301234567"
};

inline constexpr CallingCode kCallingCodes[] = {
    {"AR", "54", true},   {"AT", "43", true},   {"AU", "61", true},   {"BE", "32", true},   {"BR", "55", true},
    {"CA", "1", false},   {"CH", "41", true},   {"CL", "56", false},  {"CN", "86", true},   {"CO", "57", false},
    {"CZ", "420", false}, {"DE", "49", true},   {"DK", "45", false},  {"ES", "34", false},  {"FI", "358", true},
    {"FR", "33", true},   {"GB", "44", true},   {"GR", "30", false},  {"HK", "852", false}, {"HU", "36", false},
    {"IE", "353", true},  {"IL", "972", true},  {"IN", "91", true},   {"IT", "39", false},  {"JP", "81", true},
    {"KR", "82", true},   {"LU", "352", false}, {"MX", "52", false},  {"NL", "31", true},   {"NO", "47", false},
    {"NZ", "64", true},   {"PL", "48", false},  {"PT", "351", false}, {"RO", "40", true},   {"SE", "46", true},
    {"SG", "65", false},  {"TR", "90", true},   {"US", "1", false},   {"ZA", "27", true},
};

inline std::optional<CallingCode> calling_code(std::string_view country) {
  for (const auto& c : kCallingCodes) {
    if (c.country == country) return c;
  }
  return std::nullopt;
}

}  // namespace crmsync
