// Transforms, validators, phone numbers and text helpers, one value at a time.

#include <doctest/doctest.h>

#include "core/date_pattern.hpp"
#include "mapping/phone.hpp"
#include "mapping/text.hpp"
#include "mapping/transforms.hpp"

using namespace crmsync;
using namespace crmsync::mapping;
using config::Transform;
using config::TransformKind;
using config::Validator;
using config::ValidatorKind;

namespace {

// The text after `t`, or "REFUSED <rule>: <reason>".
std::string after(const Transform& t, Value v, Encoding e = Encoding::Utf8) {
  if (auto refused = apply_transform(t, v, e)) return "REFUSED " + refused->rule + ": " + refused->reason;
  if (v.is_null()) return "NULL";
  return v.text;
}

std::string after(TransformKind k, const std::string& text) {
  return after(Transform::of(k), Value::of(text));
}

Transform with_argument(TransformKind k, std::string argument) {
  auto t = Transform::of(k);
  t.argument = std::move(argument);
  return t;
}

std::string e164(std::string_view text, std::string_view country) {
  auto r = to_e164(text, country);
  if (auto* err = std::get_if<PhoneError>(&r)) return "ERROR " + err->reason;
  return std::get<std::string>(r);
}

std::optional<std::string> refusal(const Validator& v, const Value& value, Encoding e = Encoding::Utf8) {
  auto r = Check(v)(value, e);
  if (!r) return std::nullopt;
  return r->rule + ": " + r->reason;
}

}  // namespace

TEST_CASE("mapping text: characters are counted and cut as PostgreSQL does, in UTF-8 and single-byte encodings") {
  CHECK(char_count("Müller", Encoding::Utf8) == 6);
  CHECK(char_count("Müller", Encoding::SingleByte) == 7);  // the UTF-8 bytes read as LATIN1
  CHECK(first_chars("Ærøskøbing", 3, Encoding::Utf8) == "Ærø");
  CHECK(first_chars("日本語テキスト", 2, Encoding::Utf8) == "日本");
  CHECK(first_chars("abc", 10, Encoding::Utf8) == "abc");
  CHECK(trim(" \t\xC2\xA0 Anna \n\xC2\xA0", Encoding::Utf8) == "Anna");
  CHECK(trim("\xA0 Anna \xA0", Encoding::SingleByte) == "Anna");
  CHECK(trim("   ", Encoding::Utf8).empty());
  CHECK(to_lower("ÉLODIE ØRSTED", Encoding::Utf8) == "élodie ørsted");
  CHECK(to_upper("straße émile", Encoding::Utf8) == "STRAßE ÉMILE");  // one character for one, as PostgreSQL's upper()
  CHECK(to_lower("\xC9LODIE \xD7", Encoding::SingleByte) == "\xE9lodie \xD7");  // LATIN1 É -> é, × stays
  CHECK(to_upper("\xE9t\xE9 \xF7", Encoding::SingleByte) == "\xC9T\xC9 \xF7");
  CHECK(to_lower("bad \xFF utf8", Encoding::Utf8) == "bad \xFF utf8");  // stray bytes are left alone
}

TEST_CASE("mapping phone: numbers in many formats become E.164, and what is not a number is refused") {
  CHECK(e164("(030) 123 45-67", "DE") == "+49301234567");
  CHECK(e164("+44 20 7946 0958", "DE") == "+442079460958");
  CHECK(e164("0044 20 7946 0958", "US") == "+442079460958");
  CHECK(e164("011 44 20 7946 0958", "US") == "+442079460958");
  CHECK(e164("555.123.4567", "US") == "+15551234567");
  CHECK(e164("1 (555) 123-4567", "US") == "+15551234567");
  CHECK(e164("06 12 34 56 78", "FR") == "+33612345678");
  CHECK(e164("02 1234 5678", "IT") == "+390212345678");  // Italy keeps its leading 0
  CHECK(e164("555-1234", "US") == "ERROR has 7 digits: a national number of US has 10");
  CHECK(e164("555 123 4567 x12", "US") ==
        "ERROR has an extension or text after the number: keep it in a column of its own");
  CHECK(e164("call me", "US") == "ERROR contains letters: not a phone number");
  CHECK(e164("n/a", "DE") == "ERROR contains letters: not a phone number");
  CHECK(e164("+", "DE") == "ERROR has no digits");
  CHECK(e164("+49 30 1234 5678 9012 34", "DE") ==
        "ERROR has 18 digits with its country code: E.164 numbers have 8 to 15");
  CHECK(e164("+1 212 555 01", "DE") == "ERROR has 8 digits after +1: a North American number has 10");
  CHECK(e164("0012125550100", "DE") == "+12125550100");
  CHECK(e164("+0 123 456 789", "DE") == "ERROR has no country code after the international prefix");
  CHECK(e164("030*123", "DE") == "ERROR contains '*': not a phone number");
  CHECK(is_e164("+49301234567"));
  CHECK_FALSE(is_e164("49301234567"));
  CHECK_FALSE(is_e164("+4930"));
  CHECK_FALSE(is_e164("+04930123456"));
}

TEST_CASE("mapping transforms: each one, and NULL passes through all of them") {
  CHECK(after(TransformKind::Trim, "  a b  ") == "a b");
  CHECK(after(TransformKind::Lower, "Anna@Example.COM") == "anna@example.com");
  CHECK(after(TransformKind::Upper, "de") == "DE");
  CHECK(after(TransformKind::NullIfEmpty, "") == "NULL");
  CHECK(after(TransformKind::NullIfEmpty, " ") == " ");
  CHECK(after(TransformKind::StripNonDigits, "+1 (555) 123-4567") == "15551234567");
  CHECK(after(with_argument(TransformKind::E164, "GB"), Value::of("020 7946 0958")) == "+442079460958");
  CHECK(after(with_argument(TransformKind::E164, "GB"), Value::of("unknown")) ==
        "REFUSED e164: \"unknown\" contains letters: not a phone number");
  auto stage = Transform::of(TransformKind::Map);
  stage.values = {{"01", "lead"}, {"02", "won"}};
  CHECK(after(stage, Value::of("02")) == "won");
  CHECK(after(stage, Value::of("07")) == "REFUSED map: \"07\" is not in the map and the map has no default");
  stage.fallback = "unknown";
  CHECK(after(stage, Value::of("07")) == "unknown");
  auto cut = Transform::of(TransformKind::Truncate);
  cut.length = 4;
  CHECK(after(cut, Value::of("Jörg-Peter")) == "Jörg");
  CHECK(after(cut, Value::of("Jö"), Encoding::Utf8) == "Jö");
  const auto dmy = with_argument(TransformKind::DateFormat, "DD/MM/YYYY");
  CHECK(after(dmy, Value::of("05/03/2024")) == "2024-03-05");
  CHECK(after(dmy, Value::of(" 5/3/2024 ")) == "2024-03-05");
  CHECK(after(dmy, Value::of("31/02/2024")) ==
        "REFUSED date_format: \"31/02/2024\" is not a date in the format DD/MM/YYYY");
  CHECK(after(dmy, Value::of("29/02/2023")).starts_with("REFUSED"));
  CHECK(after(dmy, Value::of("29/02/2024")) == "2024-02-29");
  CHECK(after(with_argument(TransformKind::DateFormat, "MM-DD-YYYY HH24:MI"), Value::of("12-31-1999 23:59")) ==
        "1999-12-31 23:59:00");
  for (const auto k : {TransformKind::Trim, TransformKind::Lower, TransformKind::NullIfEmpty, TransformKind::E164,
                       TransformKind::Map, TransformKind::Cast, TransformKind::DateFormat}) {
    CHECK(after(with_argument(k, k == TransformKind::E164 ? "US" : "integer"), Value::null()) == "NULL");
  }
}

TEST_CASE("mapping transforms: cast checks and normalizes the text each type accepts") {
  const auto as = [](const char* type, const char* text) {
    return after(with_argument(TransformKind::Cast, type), Value::of(text));
  };
  CHECK(as("integer", " +0042 ") == "42");
  CHECK(as("integer", "2147483648") == "REFUSED cast: \"2147483648\" is not a valid integer");
  CHECK(as("smallint", "-32768") == "-32768");
  CHECK(as("bigint", "12a") == "REFUSED cast: \"12a\" is not a valid bigint");
  CHECK(as("numeric", "-12.50") == "-12.50");
  CHECK(as("numeric", "1,5") == "REFUSED cast: \"1,5\" is not a valid numeric");
  CHECK(as("boolean", "Yes") == "true");
  CHECK(as("boolean", "0") == "false");
  CHECK(as("boolean", "maybe") == "REFUSED cast: \"maybe\" is not a valid boolean");
  CHECK(as("date", "2024-02-30") == "REFUSED cast: \"2024-02-30\" is not a valid date");
  CHECK(as("timestamp", "2024-03-05T14:30:15.25") == "2024-03-05 14:30:15.25");
  CHECK(as("timestamp", "2024-03-05") == "2024-03-05 00:00:00");
  CHECK(as("uuid", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11") == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  CHECK(as("text", " kept as is ") == " kept as is ");
}

TEST_CASE("mapping validators: each one, NULL passes all but not_null, and reasons quote at most 40 characters") {
  CHECK(refusal(Validator::of(ValidatorKind::NotNull), Value::null()) == "not_null: is NULL");
  CHECK_FALSE(refusal(Validator::of(ValidatorKind::Email), Value::null()));
  for (const char* good : {"anna@example.com", "a.b+tag@sub.example.co.uk", "jörg@müller.de", "o'neil@x.io"}) {
    CAPTURE(good);
    CHECK_FALSE(refusal(Validator::of(ValidatorKind::Email), Value::of(good)));
  }
  for (const char* bad : {"anna", "anna@", "@example.com", "anna@example", "a@@b.com", "a b@c.com", "a..b@c.com",
                          "anna@-x.com", "anna@x..com", ".a@b.com"}) {
    CAPTURE(bad);
    CHECK(refusal(Validator::of(ValidatorKind::Email), Value::of(bad)) ==
          fmt::format("email: \"{}\" is not an email address", bad));
  }
  CHECK_FALSE(refusal(Validator::of(ValidatorKind::Phone), Value::of("+15551234567")));
  CHECK(refusal(Validator::of(ValidatorKind::Phone), Value::of("555-1234")).has_value());
  CHECK_FALSE(refusal(Validator::of(ValidatorKind::Uuid), Value::of("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")));
  CHECK(refusal(Validator::of(ValidatorKind::Uuid), Value::of("a0eebc99")).has_value());
  auto regex = Validator::of(ValidatorKind::Regex);
  regex.pattern = "[A-Z]{3}-[0-9]+";
  CHECK_FALSE(refusal(regex, Value::of("ABC-12")));
  CHECK(refusal(regex, Value::of("xABC-12")) == "regex: \"xABC-12\" does not match /[A-Z]{3}-[0-9]+/");  // whole value
  auto max = Validator::of(ValidatorKind::MaxLength);
  max.length = 5;
  CHECK_FALSE(refusal(max, Value::of("Jörgi")));  // 5 characters, 6 bytes
  CHECK(refusal(max, Value::of("Jörgen")) == "max_length: is 6 characters long, more than 5");
  auto one_of = Validator::of(ValidatorKind::OneOf);
  one_of.values = {"lead", "won"};
  CHECK_FALSE(refusal(one_of, Value::of("won")));
  CHECK(refusal(one_of, Value::of("Won")) == "one_of: \"Won\" is not one of the allowed values");
  auto range = Validator::of(ValidatorKind::Range);
  range.min = "0";
  range.max = "100";
  CHECK_FALSE(refusal(range, Value::of("100")));
  CHECK_FALSE(refusal(range, Value::of("0.5")));
  CHECK(refusal(range, Value::of("100.01")) == "range: 100.01 is greater than 100");
  CHECK(refusal(range, Value::of("-1")) == "range: -1 is less than 0");
  CHECK(refusal(range, Value::of("ten")) == "range: \"ten\" is not a number");
  CHECK(refusal(range, Value::of("1e99999")) == "range: \"1e99999\" is out of any range");
  const std::string long_text(100, 'x');
  CHECK(refusal(Validator::of(ValidatorKind::Email), Value::of(long_text)) ==
        "email: \"" + std::string(40, 'x') + "...\" is not an email address");
}

TEST_CASE("date patterns: tokens, literals and real calendar dates") {
  CHECK_FALSE(DatePattern::parse("DD.MM.YYYY").value().to_iso("1.13.2024"));
  CHECK(DatePattern::parse("DD.MM.YYYY").value().to_iso("01.12.2024") == "2024-12-01");
  CHECK(DatePattern::parse("YYYYMMDD").value().to_iso("20240305") == "2024-03-05");
  CHECK_FALSE(DatePattern::parse("DD/MM/YYYY").value().to_iso("05-03-2024"));
  CHECK_FALSE(DatePattern::parse("DD/MM/YYYY HH24:MI:SS").value().to_iso("05/03/2024 24:00:00"));
  CHECK_FALSE(DatePattern::parse("DD/MM/YYYY").value().to_iso("05/03/2024 extra"));
  CHECK(DatePattern::parse("YYYY-MM").error().message == "date format \"YYYY-MM\" needs YYYY, MM and DD");
  CHECK(DatePattern::parse("DD-MM-YYYY-DD").error().message == "DD appears twice in date format \"DD-MM-YYYY-DD\"");
}
