#include <doctest/doctest.h>

#include "mapping/column_plan.hpp"

using namespace crmsync;

namespace {
TableInfo contacts() {
  TableInfo t;
  t.schema = "public";
  t.name = "contacts";
  t.columns = {{"id", "bigint", true, false, true},
               {"email", "text", false, false, false},
               {"ssn", "text", false, false, false},
               {"full_name", "text", false, true, false}};
  return t;
}

config::ColumnMapping renamed(std::string to) {
  config::ColumnMapping c;
  c.to = std::move(to);
  return c;
}
}  // namespace

TEST_CASE("identity plan keeps every non-generated column") {
  const config::TableName name{"public", "contacts"};
  const auto plan = mapping::plan_table(name, contacts(), nullptr);
  CHECK(plan.target == name);
  REQUIRE(plan.columns.size() == 3);
  CHECK(plan.columns[0].source == "id");
  CHECK(plan.columns[2].target == "ssn");
  CHECK(plan.unknown_source_columns.empty());
}

TEST_CASE("a mapping renames, excludes and reports unknown columns") {
  config::Mapping m;
  m.from = {"public", "contacts"};
  m.to = {"crm", "people"};
  m.columns["id"] = renamed("legacy_id");
  m.columns["phone"] = renamed("phone");
  m.exclude = {"ssn", "fax"};
  const auto plan = mapping::plan_table(m.from, contacts(), &m);
  CHECK(plan.target == config::TableName{"crm", "people"});
  REQUIRE(plan.columns.size() == 2);
  CHECK(plan.columns[0].source == "id");
  CHECK(plan.columns[0].target == "legacy_id");
  CHECK(plan.columns[1].target == "email");
  CHECK(plan.unknown_source_columns == std::vector<std::string>{"phone", "fax"});
}

TEST_CASE("owned rows: the key's constant columns, and nothing without a key or a constant in it") {
  config::Mapping m;
  m.from = {"public", "contacts"};
  m.to = {"crm", "people"};
  m.columns["id"] = renamed("legacy_id");
  config::AddedColumn origin;
  origin.kind = config::AddedKind::Constant;
  origin.value = "legacy_a";
  m.add["source_system"] = origin;
  CHECK(mapping::owned_rows(&m).empty());  // no key: the source's identity, the whole table
  m.key = {"source_system", "legacy_id"};
  const auto owned = mapping::owned_rows(&m);
  REQUIRE(owned.size() == 1);
  CHECK(owned[0].column == "source_system");
  CHECK(owned[0].value == "legacy_a");
  m.key = {"legacy_id"};
  CHECK(mapping::owned_rows(&m).empty());
  CHECK(mapping::owned_rows(nullptr).empty());
}
