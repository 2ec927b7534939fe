#include <doctest/doctest.h>

#include "sink/postgres/multirow.hpp"

using namespace crmsync;
using namespace crmsync::sink::postgres;

namespace {

Route route() {
  Route r;
  r.schema = "public";
  r.table = "Deals";
  r.columns = {"id", "", "Amount", "note"};
  r.key = {0};
  r.cast_types = {"bigint", "", "numeric", "character varying"};
  return r;
}

}  // namespace

TEST_CASE("text arrays quote every element and escape quotes and backslashes") {
  const Value a = Value::of("plain");
  const Value b = Value::of("with \"quote\" and \\ and ,{}");
  const Value n = Value::null();
  const Value e = Value::of("");
  const Value word_null = Value::of("NULL");
  CHECK(text_array({}) == "{}");
  CHECK(text_array({&a, &n, &e, &word_null}) == R"({"plain",NULL,"","NULL"})");
  CHECK(text_array({&b}) == R"({"with \"quote\" and \\ and ,{}"})");
}

TEST_CASE("multi-row statements unnest one text[] per column and cast to the target types") {
  const auto r = route();
  CHECK(multirow_delete_sql(r) ==
        R"(DELETE FROM "public"."Deals" AS t USING unnest($1::text[]) AS u(c0) WHERE t."id" = u.c0::bigint)");
  CHECK(multirow_update_sql(r, {2, 3}) ==
        R"(UPDATE "public"."Deals" AS t SET "Amount" = u.c1::numeric, "note" = u.c2::character varying )"
        R"(FROM unnest($1::text[], $2::text[], $3::text[]) AS u(c0, c1, c2) WHERE t."id" = u.c0::bigint)");
  CHECK(multirow_insert_sql(r, {0, 2}) ==
        R"(INSERT INTO "public"."Deals" ("id", "Amount") OVERRIDING SYSTEM VALUE SELECT u.c0::bigint, u.c1::numeric )"
        R"(FROM unnest($1::text[], $2::text[]) AS u(c0, c1))");
}
