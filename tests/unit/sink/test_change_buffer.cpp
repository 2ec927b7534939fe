#include <doctest/doctest.h>

#include "sink/postgres/change_buffer.hpp"

using namespace crmsync;
using sink::postgres::ChangeBuffer;
using sink::postgres::NetChange;
using sink::postgres::NetKind;
using sink::postgres::Route;

namespace {

Route route(std::uint64_t id = 1) {
  Route r;
  r.id = id;
  r.schema = "public";
  r.table = "t";
  r.columns = {"id", "name", "doc"};
  r.key = {0};
  r.compare_as_text = {false, false, false};
  r.cast_types = {"bigint", "text", "text"};
  return r;
}

Row row(const std::string& id, Value name, Value doc) { return {Value::of(id), std::move(name), std::move(doc)}; }
Row key(const std::string& id) { return {Value::of(id), Value::null(), Value::null()}; }

NetChange only(ChangeBuffer& b) {
  auto tables = b.take();
  REQUIRE(tables.size() == 1);
  REQUIRE(tables[0].changes.size() == 1);
  return tables[0].changes[0];
}

}  // namespace

TEST_CASE("change buffer: updates of one key merge, unchanged TOAST keeps the earlier value") {
  ChangeBuffer b;
  const auto r = route();
  CHECK(b.update(r, row("1", Value::of("a"), Value::of("big"))));
  CHECK(b.update(r, row("1", Value::of("b"), Value::unchanged_toast())));
  CHECK(b.merged() == 1);
  const auto c = only(b);
  CHECK(c.kind == NetKind::Update);
  CHECK(c.row == row("1", Value::of("b"), Value::of("big")));
  CHECK(b.empty());
}

TEST_CASE("change buffer: a TOAST column unchanged in every update stays out of the net update") {
  ChangeBuffer b;
  const auto r = route();
  CHECK(b.update(r, row("1", Value::of("a"), Value::unchanged_toast())));
  CHECK(b.update(r, row("1", Value::of("b"), Value::unchanged_toast())));
  const auto c = only(b);
  CHECK(c.kind == NetKind::Update);
  CHECK(c.row[2].is_unchanged_toast());
}

TEST_CASE("change buffer: insert then updates is one insert of the final row") {
  ChangeBuffer b;
  const auto r = route();
  CHECK(b.insert(r, row("1", Value::of("a"), Value::of("doc"))));
  CHECK(b.update(r, row("1", Value::of("b"), Value::unchanged_toast())));
  const auto c = only(b);
  CHECK(c.kind == NetKind::Insert);
  CHECK(c.row == row("1", Value::of("b"), Value::of("doc")));
}

TEST_CASE("change buffer: insert then delete is nothing, and an insert after that is an insert") {
  ChangeBuffer b;
  const auto r = route();
  CHECK(b.insert(r, row("1", Value::of("a"), Value::null())));
  CHECK(b.remove(r, key("1")));
  auto c = b.take();
  REQUIRE(c.size() == 1);
  CHECK(c[0].changes[0].kind == NetKind::Gone);
  CHECK(b.insert(r, row("1", Value::of("a"), Value::null())));
  CHECK(b.remove(r, key("1")));
  CHECK(b.insert(r, row("1", Value::of("c"), Value::null())));
  CHECK(only(b).kind == NetKind::Insert);
}

TEST_CASE("change buffer: delete then insert is a replace, update or replace then delete is a delete") {
  ChangeBuffer b;
  const auto r = route();
  CHECK(b.remove(r, key("1")));
  CHECK(b.insert(r, row("1", Value::of("new"), Value::null())));
  CHECK(b.update(r, row("1", Value::of("newer"), Value::unchanged_toast())));
  auto c = only(b);
  CHECK(c.kind == NetKind::Replace);
  CHECK(c.row == row("1", Value::of("newer"), Value::null()));
  CHECK(b.update(r, row("2", Value::of("x"), Value::null())));
  CHECK(b.remove(r, key("2")));
  c = only(b);
  CHECK(c.kind == NetKind::Delete);
  CHECK(c.row == key("2"));
}

TEST_CASE("change buffer: transitions that must keep the source's order are refused") {
  ChangeBuffer b;
  const auto r = route();
  CHECK(b.insert(r, row("1", Value::of("a"), Value::null())));
  CHECK_FALSE(b.insert(r, row("1", Value::of("a"), Value::null())));  // insert over a live row
  CHECK(b.remove(r, key("2")));
  CHECK_FALSE(b.update(r, row("2", Value::of("x"), Value::null())));  // update of a deleted row
  CHECK_FALSE(b.remove(r, key("2")));                                  // delete of a deleted row
  CHECK_FALSE(b.insert(r, row("3", Value::of("x"), Value::unchanged_toast())));  // no full row
  CHECK_FALSE(b.update(r, {Value::null(), Value::of("x"), Value::null()}));     // NULL key
  CHECK_FALSE(b.update(r, {Value::unchanged_toast(), Value::of("x"), Value::null()}));
}

TEST_CASE("change buffer: keys are per table and length-prefixed, order is first seen") {
  ChangeBuffer b;
  auto r2 = route();
  r2.key = {0, 1};
  r2.id = 2;
  CHECK(b.update(r2, row("a,b", Value::of("c"), Value::null())));
  CHECK(b.update(r2, row("a", Value::of("b,c"), Value::null())));
  CHECK(b.insert(route(1), row("9", Value::of("x"), Value::null())));
  CHECK(b.insert(route(1), row("8", Value::of("x"), Value::null())));
  CHECK(b.merged() == 0);
  CHECK(b.bytes() > 0);
  auto tables = b.take();
  REQUIRE(tables.size() == 2);
  CHECK(tables[0].route.id == 2);
  CHECK(tables[0].changes.size() == 2);
  REQUIRE(tables[1].changes.size() == 2);
  CHECK(tables[1].changes[0].row[0].text == "9");
  CHECK(b.bytes() == 0);
}
