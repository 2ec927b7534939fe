#pragma once
// Phone numbers as legacy CRMs hold them ("(030) 123 45-67", "+44 20 7946 0958", "0049 30 1234567",
// "555.123.4567") to E.164 ("+49301234567"). A number without a country prefix is read as a
// national number of the default country. Anything that is not clearly a phone number (letters,
// an extension, too few or too many digits) is an error with the reason, never a guess.

#include <string>
#include <string_view>
#include <variant>

namespace crmsync::mapping {

struct PhoneError {
  std::string reason;
};

/// `default_country`: an ISO 3166 alpha-2 code listed in core/calling_codes.hpp.
std::variant<std::string, PhoneError> to_e164(std::string_view text, std::string_view default_country);

/// "+" followed by 8 to 15 digits, the first not 0.
bool is_e164(std::string_view text);

}  // namespace crmsync::mapping
