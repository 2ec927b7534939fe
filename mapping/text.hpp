#pragma once
// Characters of a value's text in the session's client encoding: UTF-8, or a single-byte
// encoding (LATIN1, WIN1252, SQL_ASCII...) where one byte is one character. Lengths and
// truncation count characters as PostgreSQL's length() does, never bytes, and never cut a
// character in two.

#include <cstddef>
#include <string>
#include <string_view>

namespace crmsync::mapping {

enum class Encoding { Utf8, SingleByte };

/// From a PostgreSQL encoding name ("UTF8", "LATIN1", "SQL_ASCII"...).
Encoding encoding_of(std::string_view pg_encoding_name);

std::size_t char_count(std::string_view s, Encoding e);
/// The first `n` characters of s.
std::string_view first_chars(std::string_view s, std::size_t n, Encoding e);
/// Without leading and trailing white space (ASCII blanks, tabs, line ends; U+00A0 no-break space).
std::string_view trim(std::string_view s, Encoding e);
/// Lower or upper case: every letter of Unicode in UTF-8 (C.UTF-8 case tables), ASCII and the
/// Latin-1 letters in a single-byte encoding.
std::string to_lower(std::string_view s, Encoding e);
std::string to_upper(std::string_view s, Encoding e);

}  // namespace crmsync::mapping
