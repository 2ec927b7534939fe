#pragma once
// Legacy text dates: a pattern such as "DD/MM/YYYY" or "MM-DD-YYYY HH24:MI" read into ISO 8601
// ("2024-03-05", "2024-03-05 14:30:00"), which any PostgreSQL date or timestamp column accepts
// whatever its DateStyle. Used by config/ to validate a `date_format` and by mapping/ to apply it.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace crmsync {

class DatePattern {
 public:
  /// Tokens: YYYY, MM, DD, HH24, MI, SS (upper case); any other character that is not a letter is a
  /// literal that must appear as written. YYYY, MM and DD are required, each at most once.
  static Result<DatePattern> parse(std::string_view pattern);

  /// The ISO form of `text`, or nullopt when it does not fit the pattern or is not a real date or
  /// time (31/02/2024, 24:00). Surrounding blanks are ignored; one-digit day and month are accepted.
  [[nodiscard]] std::optional<std::string> to_iso(std::string_view text) const;

 private:
  enum class Part { Year, Month, Day, Hour, Minute, Second, Literal };
  struct Token {
    Part part;
    char literal = 0;
  };
  std::vector<Token> tokens_;
  bool has_time_ = false;
};

}  // namespace crmsync
