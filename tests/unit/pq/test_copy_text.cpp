#include <doctest/doctest.h>

#include "pq/copy_text.hpp"

using namespace crmsync;

TEST_CASE("COPY text rows: NULL, empty, escapes and every byte round-trip") {
  Row row;
  REQUIRE(pq::parse_copy_text("1\t\\N\t\ta\\tb\\\\c\\nd\\re\n", 4, row).ok());
  CHECK(row == Row{Value::of("1"), Value::null(), Value::of(""), Value::of("a\tb\\c\nd\re")});
  REQUIRE(pq::parse_copy_text("\\b\\f\\v\\101\\x41\\x\\q", 1, row).ok());
  CHECK(row == Row{Value::of("\b\f\vAAxq")});
  REQUIRE(pq::parse_copy_text("\\N", 1, row).ok());
  CHECK(row == Row{Value::null()});
  REQUIRE(pq::parse_copy_text("\\\\N", 1, row).ok());  // the text \N, not NULL
  CHECK(row == Row{Value::of("\\N")});
  std::string all;
  for (int c = 1; c < 256; ++c) all += static_cast<char>(c);
  const Row original{Value::of(all), Value::null(), Value::of(""), Value::of("\\N")};
  std::string line;
  pq::append_copy_text(original, line);
  CHECK(line.back() == '\n');
  REQUIRE(pq::parse_copy_text(line, 4, row).ok());
  CHECK(row == original);
}

TEST_CASE("COPY text rows: a malformed line is an error that names the field") {
  Row row;
  CHECK(pq::parse_copy_text("a\tb\\", 2, row).error().message == "COPY text row, field 2: ends in a lone backslash");
  CHECK(pq::parse_copy_text("a\tb\tc", 2, row).error().message == "COPY text row has 3 fields, expected 2");
  CHECK(pq::parse_copy_text("", 1, row).ok());  // one empty field
  CHECK(row == Row{Value::of("")});
}
