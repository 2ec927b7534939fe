#include "mapping/transforms.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>
#include <map>
#include <stdexcept>

#include "core/date_pattern.hpp"
#include "mapping/phone.hpp"

namespace crmsync::mapping {
namespace {

using config::TransformKind;
using config::ValidatorKind;

// A short, safe excerpt of a value for a reason: values can be long or personal.
std::string excerpt(std::string_view s, Encoding e) {
  constexpr std::size_t kMax = 40;
  if (char_count(s, e) <= kMax) return fmt::format("\"{}\"", s);
  return fmt::format("\"{}...\"", first_chars(s, kMax, e));
}

bool ascii_iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_decimal(std::string_view s) {
  static const std::regex kNumber(R"([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)");
  return std::regex_match(s.begin(), s.end(), kNumber);
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : std::isxdigit(static_cast<unsigned char>(s[i])) == 0) return false;
  }
  return true;
}

std::optional<std::string> cast_integer(std::string_view s, std::int64_t min, std::int64_t max) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty() || v < min || v > max) return std::nullopt;
  return std::to_string(v);
}

std::optional<std::string> cast_boolean(std::string_view s) {
  for (const char* t : {"t", "true", "y", "yes", "on", "1"}) {
    if (ascii_iequals(s, t)) return "true";
  }
  for (const char* f : {"f", "false", "n", "no", "off", "0"}) {
    if (ascii_iequals(s, f)) return "false";
  }
  return std::nullopt;
}

std::optional<std::string> cast_timestamp(std::string_view text) {
  std::string s(text);
  if (s.size() > 10 && s[10] == 'T') s[10] = ' ';  // ISO 8601's T between date and time
  static const auto patterns = [] {
    std::vector<DatePattern> out;
    for (const char* p : {"YYYY-MM-DD HH24:MI:SS", "YYYY-MM-DD HH24:MI", "YYYY-MM-DD"}) {
      out.push_back(*DatePattern::parse(p));
    }
    return out;
  }();
  // Fractional seconds are kept as written after a valid whole-second stamp.
  std::string fraction;
  if (const auto dot = s.rfind('.'); dot != std::string::npos && dot > 10) {
    fraction = s.substr(dot);
    if (fraction.size() < 2 ||
        !std::all_of(fraction.begin() + 1, fraction.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    s.resize(dot);
  }
  for (const auto& p : patterns) {
    auto iso = p.to_iso(s);
    if (!iso) continue;
    if (iso->size() == 10) *iso += " 00:00:00";
    return *iso + fraction;
  }
  return std::nullopt;
}

std::optional<std::string> cast(std::string_view type, std::string_view raw, Encoding e) {
  const auto s = trim(raw, e);
  if (type == "text") return std::string(raw);
  if (type == "integer")
    return cast_integer(s, std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max());
  if (type == "bigint")
    return cast_integer(s, std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max());
  if (type == "smallint")
    return cast_integer(s, std::numeric_limits<std::int16_t>::min(), std::numeric_limits<std::int16_t>::max());
  if (type == "numeric") return is_decimal(s) ? std::optional<std::string>(s) : std::nullopt;
  if (type == "boolean") return cast_boolean(s);
  if (type == "date") {
    static const auto iso = *DatePattern::parse("YYYY-MM-DD");
    return iso.to_iso(s);
  }
  if (type == "timestamp") return cast_timestamp(s);
  if (type == "uuid") return is_uuid(s) ? std::optional<std::string>(to_lower(s, Encoding::SingleByte)) : std::nullopt;
  return std::nullopt;
}

// The pragmatic address check CRMs apply: one @, a local part of the usual characters, a domain
// of at least two labels; non-ASCII letters are allowed (internationalized addresses).
bool is_email(std::string_view s) {
  const auto at = s.find('@');
  if (at == std::string_view::npos || at == 0 || s.find('@', at + 1) != std::string_view::npos || s.size() > 254) {
    return false;
  }
  const auto local = s.substr(0, at);
  const auto domain = s.substr(at + 1);
  if (local.size() > 64 || local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return false;
  }
  for (const char ch : local) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80 || std::isalnum(c) != 0) continue;
    if (std::string_view("!#$%&'*+/=?^_`{|}~.-").find(ch) == std::string_view::npos) return false;
  }
  std::size_t labels = 0;
  std::size_t start = 0;
  while (start <= domain.size()) {
    const auto dot = std::min(domain.find('.', start), domain.size());
    const auto label = domain.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (const char ch : label) {
      const auto c = static_cast<unsigned char>(ch);
      if (c < 0x80 && std::isalnum(c) == 0 && ch != '-') return false;
    }
    ++labels;
    start = dot + 1;
    if (dot == domain.size()) break;
  }
  return labels >= 2;
}

}  // namespace

std::string_view rule_name(TransformKind k) {
  static constexpr std::string_view kNames[] = {"trim", "lower", "upper", "null_if_empty", "strip_non_digits",
                                                "e164", "map",   "cast",  "truncate",      "date_format"};
  return kNames[static_cast<int>(k)];
}

std::string_view rule_name(ValidatorKind k) {
  static constexpr std::string_view kNames[] = {"not_null", "email",      "phone",  "uuid",
                                                "regex",    "max_length", "one_of", "range"};
  return kNames[static_cast<int>(k)];
}

bool can_refuse(const config::Transform& t) {
  return t.kind == TransformKind::E164 || t.kind == TransformKind::Cast || t.kind == TransformKind::DateFormat ||
         (t.kind == TransformKind::Map && !t.fallback);
}

std::optional<Refusal> apply_transform(const config::Transform& t, Value& v, Encoding e) {
  if (v.kind != ValueKind::Text) return std::nullopt;
  const auto refuse = [&](std::string reason) { return Refusal{std::string(rule_name(t.kind)), std::move(reason)}; };
  switch (t.kind) {
    case TransformKind::Trim: {
      // In place: the value is usually already trimmed, or blank-padded at the end only.
      const auto kept = trim(v.text, e);
      const auto start = static_cast<std::size_t>(kept.data() - v.text.data());
      v.text.erase(start + kept.size());
      v.text.erase(0, start);
      break;
    }
    case TransformKind::Lower: v.text = to_lower(v.text, e); break;
    case TransformKind::Upper: v.text = to_upper(v.text, e); break;
    case TransformKind::NullIfEmpty:
      if (v.text.empty()) v = Value::null();
      break;
    case TransformKind::StripNonDigits: std::erase_if(v.text, [](char c) { return c < '0' || c > '9'; }); break;
    case TransformKind::E164: {
      auto phone = to_e164(v.text, t.argument);
      if (auto* err = std::get_if<PhoneError>(&phone))
        return refuse(fmt::format("{} {}", excerpt(v.text, e), err->reason));
      v.text = std::get<std::string>(std::move(phone));
      break;
    }
    case TransformKind::Map: {
      const auto it = t.values.find(v.text);
      if (it != t.values.end()) {
        v.text = it->second;
      } else if (t.fallback) {
        v.text = *t.fallback;
      } else {
        return refuse(fmt::format("{} is not in the map and the map has no default", excerpt(v.text, e)));
      }
      break;
    }
    case TransformKind::Cast: {
      auto out = cast(t.argument, v.text, e);
      if (!out) return refuse(fmt::format("{} is not a valid {}", excerpt(v.text, e), t.argument));
      v.text = std::move(*out);
      break;
    }
    case TransformKind::Truncate:
      v.text = std::string(first_chars(v.text, static_cast<std::size_t>(t.length), e));
      break;
    case TransformKind::DateFormat: {
      static thread_local std::map<std::string, DatePattern> patterns;  // parsed once per thread
      auto found = patterns.find(t.argument);
      if (found == patterns.end()) {
        auto parsed = DatePattern::parse(t.argument);
        if (!parsed) return refuse(parsed.error().message);
        found = patterns.emplace(t.argument, std::move(parsed).value()).first;
      }
      auto iso = found->second.to_iso(v.text);
      if (!iso) return refuse(fmt::format("{} is not a date in the format {}", excerpt(v.text, e), t.argument));
      v.text = std::move(*iso);
      break;
    }
  }
  return std::nullopt;
}

Check::Check(config::Validator v) : spec_(std::move(v)) {
  if (spec_.kind == ValidatorKind::Regex) regex_.emplace(spec_.pattern);  // validated when the config was read
}

std::optional<Refusal> Check::operator()(const Value& v, Encoding e) const {
  const auto refuse = [&](std::string reason) {
    return Refusal{std::string(rule_name(spec_.kind)), std::move(reason)};
  };
  if (v.kind == ValueKind::Null) {
    if (spec_.kind == ValidatorKind::NotNull) return refuse("is NULL");
    return std::nullopt;
  }
  if (v.kind != ValueKind::Text) return std::nullopt;
  const auto& s = v.text;
  switch (spec_.kind) {
    case ValidatorKind::NotNull: return std::nullopt;
    case ValidatorKind::Email:
      if (!is_email(s)) return refuse(fmt::format("{} is not an email address", excerpt(s, e)));
      return std::nullopt;
    case ValidatorKind::Phone:
      if (!is_e164(s))
        return refuse(fmt::format("{} is not a phone number in E.164 form (+ and 8 to 15 digits)", excerpt(s, e)));
      return std::nullopt;
    case ValidatorKind::Uuid:
      if (!is_uuid(s)) return refuse(fmt::format("{} is not a UUID", excerpt(s, e)));
      return std::nullopt;
    case ValidatorKind::Regex:
      if (!std::regex_match(s, *regex_))
        return refuse(fmt::format("{} does not match /{}/", excerpt(s, e), spec_.pattern));
      return std::nullopt;
    case ValidatorKind::MaxLength: {
      const auto n = char_count(s, e);
      if (n > static_cast<std::size_t>(spec_.length)) {
        return refuse(fmt::format("is {} characters long, more than {}", n, spec_.length));
      }
      return std::nullopt;
    }
    case ValidatorKind::OneOf:
      if (std::find(spec_.values.begin(), spec_.values.end(), s) == spec_.values.end()) {
        return refuse(fmt::format("{} is not one of the allowed values", excerpt(s, e)));
      }
      return std::nullopt;
    case ValidatorKind::Range: {
      const auto t = trim(s, e);
      if (!is_decimal(t)) return refuse(fmt::format("{} is not a number", excerpt(s, e)));
      try {
        const long double x = std::stold(std::string(t));
        if (spec_.min && x < std::stold(*spec_.min)) return refuse(fmt::format("{} is less than {}", t, *spec_.min));
        if (spec_.max && x > std::stold(*spec_.max)) return refuse(fmt::format("{} is greater than {}", t, *spec_.max));
      } catch (const std::out_of_range&) {
        return refuse(fmt::format("{} is out of any range", excerpt(s, e)));
      }
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace crmsync::mapping
