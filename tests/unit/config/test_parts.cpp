// The building blocks on their own: edit distance and suggestions, table names, interpolation.

#include <doctest/doctest.h>

#include <array>

#include "config/detail/interpolate.hpp"
#include "config/detail/suggest.hpp"
#include "config/detail/table_name.hpp"
#include "pq/connection.hpp"
#include "tests/unit/config/support.hpp"

namespace crmsync::config::detail {

TEST_CASE("config suggest: edit distance counts an adjacent swap as one edit") {
  CHECK(edit_distance("tables", "tables") == 0);
  CHECK(edit_distance("tabels", "tables") == 1);
  CHECK(edit_distance("lowr", "lower") == 1);
  CHECK(edit_distance("Name", "name") == 0);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
}

TEST_CASE("config suggest: closest only when close enough") {
  constexpr std::array<std::string_view, 5> levels{"trace", "debug", "info", "warn", "error"};
  CHECK(closest("debgu", levels) == "debug");
  CHECK(closest("warning", levels) == "warn");
  CHECK(closest("err", levels) == "error");
  CHECK(closest("INFO", levels) == "info");
  CHECK_FALSE(closest("verbose", levels).has_value());
  CHECK_FALSE(closest("x", levels).has_value());
}

TEST_CASE("config table names: plain, qualified and quoted") {
  CHECK(parse_table_name("contacts").name == TableName{"public", "contacts"});
  CHECK(parse_table_name("crm.people").name == TableName{"crm", "people"});
  CHECK(parse_table_name("s$1._x").name == TableName{"s$1", "_x"});
  CHECK(parse_table_name("\"My Schema\".\"Order Lines\"").name == TableName{"My Schema", "Order Lines"});
  CHECK(parse_table_name("\"a.b\".c").name == TableName{"a.b", "c"});
  CHECK(parse_table_name("\"x\"\"y\"").name == TableName{"public", "x\"y"});
  CHECK(parse_table_name(std::string(63, 'a')).name.has_value());
}

TEST_CASE("config table names: what is refused") {
  CHECK(parse_table_name("").problem == "expected table or schema.table");
  CHECK(parse_table_name("a.b.c").problem == "expected table or schema.table, got more than one dot");
  CHECK(parse_table_name(".a").problem == "empty schema name");
  CHECK(parse_table_name("a.").problem == "empty table name");
  CHECK(parse_table_name("\"\".a").problem == "empty schema name");
  CHECK(parse_table_name("\"abc").problem == "unterminated double quote");
  CHECK(parse_table_name("\"a\"b.c").problem == "unexpected text after a closing double quote");
  CHECK(parse_table_name("1abc").problem.starts_with("an unquoted table name may only contain"));
  CHECK(parse_table_name("Sales.x").problem.starts_with("the unquoted schema name has uppercase letters"));
  CHECK(parse_table_name(std::string(64, 'a')).problem == "the table name is longer than 63 bytes");
}

TEST_CASE("config interpolate: expansions and their errors") {
  const config::test::Fakes fakes{{{"A", "1"}, {"EMPTY", ""}}, {{"/s", "x\n"}}};
  const auto env = config::test::fake_env(fakes);
  const auto files = config::test::fake_files(fakes);

  const Interpolated plain = interpolate("no dollars", env, files);
  CHECK(plain.value == "no dollars");
  CHECK_FALSE(plain.substituted);

  const Interpolated mixed = interpolate("${A}-${EMPTY}-${file:/s}-$$-$x", env, files);
  CHECK(mixed.value == "1--x-$-$x");
  CHECK(mixed.substituted);
  CHECK(mixed.errors.empty());

  const Interpolated bad = interpolate("${UNSET} ${file:/nope} ${9x}", env, files);
  CHECK(bad.errors == std::vector<std::string>{
                          "environment variable \"UNSET\" is not set",
                          "cannot read secret file \"/nope\"",
                          "invalid variable name \"9x\" in \"${...}\": use letters, digits and underscores, or "
                          "\"${file:/path}\"",
                      });
}

TEST_CASE("config interpolate: a secret spliced into a connection string can neither break nor extend it") {
  const std::vector<std::string> passwords{"a b",   "it's",     "back\\slash", "x=y",
                                           " lead", "tail ",    "\\'",         "a b'c\\d=e host=evil.example port=1",
                                           "",      "%20+/?#@:"};
  for (const auto& pw : passwords) {
    CAPTURE(pw);
    const config::test::Fakes fakes{{{"PW", pw}}, {{"/pw", pw + "\n"}}};
    const auto env = config::test::fake_env(fakes);
    const auto files = config::test::fake_files(fakes);
    for (const std::string text :
         {"host=db user=crm password=${PW} dbname=crm", "host=db user=crm password='${PW}' dbname=crm",
          "host=db password=${file:/pw} user=crm dbname=crm", "postgresql://crm:${PW}@db/crm"}) {
      CAPTURE(text);
      const auto out = interpolate(text, env, files, Splice::Conninfo);
      REQUIRE(out.errors.empty());
      // libpq reads back exactly the secret, and nothing else changed.
      CHECK(pq::dsn_keyword(out.value, "password").value_or("") == pw);
      CHECK(pq::dsn_keyword(out.value, "host") == "db");
      CHECK(pq::dsn_keyword(out.value, "user") == "crm");
      CHECK(pq::dsn_keyword(out.value, "dbname") == "crm");
      CHECK_FALSE(pq::dsn_keyword(out.value, "port").has_value());
    }
  }
  // A host list in a URI is spliced as written (libpq splits it before decoding), and an empty
  // value after "key = " is still a value of its own.
  const config::test::Fakes hosts{{{"HOSTS", "h1:5432,h2:5433"}, {"E", ""}}, {}};
  CHECK(interpolate("postgresql://u:p@${HOSTS}/crm", config::test::fake_env(hosts), config::test::fake_files(hosts),
                    Splice::Conninfo)
            .value == "postgresql://u:p@h1:5432,h2:5433/crm");
  const auto spaced = interpolate("password = ${E} host=db", config::test::fake_env(hosts),
                                  config::test::fake_files(hosts), Splice::Conninfo);
  CHECK(pq::dsn_keyword(spaced.value, "password") == "");
  CHECK(pq::dsn_keyword(spaced.value, "host") == "db");
  // A variable that is the whole connection string is one of its own, used as written.
  const config::test::Fakes whole{{{"URL", "host=db port=5433 user=crm"}}, {}};
  const auto out =
      interpolate("${URL}", config::test::fake_env(whole), config::test::fake_files(whole), Splice::Conninfo);
  CHECK(out.value == "host=db port=5433 user=crm");
  // Raw splicing (every other key) is unchanged.
  CHECK(interpolate("a ${URL}", config::test::fake_env(whole), config::test::fake_files(whole)).value ==
        "a host=db port=5433 user=crm");
}

}  // namespace crmsync::config::detail
