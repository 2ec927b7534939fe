#include <doctest/doctest.h>

#include "pq/connection.hpp"

using namespace crmsync::pq;

TEST_CASE("identifiers are quoted for any name") {
  CHECK(quote_ident("contacts") == "\"contacts\"");
  CHECK(quote_ident("Order Lines") == "\"Order Lines\"");
  CHECK(quote_ident("we\"ird") == "\"we\"\"ird\"");
  CHECK(quote_ident("Kontaktpersonen_Ü") == "\"Kontaktpersonen_Ü\"");
  CHECK(quote_qualified("My Schema", "t") == "\"My Schema\".\"t\"");
}

TEST_CASE("literals are quoted whatever standard_conforming_strings says") {
  CHECK(quote_literal("it's") == "'it''s'");
  CHECK(quote_literal("a\\b") == "E'a\\\\b'");
  CHECK(quote_literal("") == "''");
}

TEST_CASE("describe_dsn never shows the password or the whole string") {
  CHECK(describe_dsn("host=db.example port=5433 user=crm password=s3cret dbname=legacy") ==
        "crm@db.example:5433/legacy");
  CHECK(describe_dsn("postgresql://crm:s3cret@db:5432/crm?sslmode=require") == "crm@db:5432/crm");
  CHECK(describe_dsn("dbname=x") == "localhost/x");
  CHECK(describe_dsn("host='unterminated password=s3cret") == "<unparseable connection string>");
}
