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

TEST_CASE(
    "mapping features not applied yet, and dead letters for rules that can refuse, are listed so run can refuse them") {
  config::PipelineConfig cfg;
  config::Mapping m;
  m.from = {"public", "contacts"};
  m.to = m.from;
  m.columns["email"] = renamed("email");
  m.columns["email"].transform.push_back(config::Transform::of(config::TransformKind::Trim));
  m.columns["email"].validate.push_back(config::Validator::of(config::ValidatorKind::Email));
  m.columns["id"] = renamed("legacy_id");
  m.where = "deleted_at IS NULL";  // applied: a publication row filter and the copy's WHERE
  m.columns["account_id"].lookup = config::Lookup{};
  cfg.mappings.push_back(m);
  CHECK(mapping::unsupported_features(cfg) ==
        std::vector<std::string>{"mappings[0] (public.contacts): columns.account_id.lookup"});
  cfg.mappings[0].columns.erase("account_id");
  CHECK(mapping::unsupported_features(cfg).empty());
  cfg.mappings[0].where.reset();
  CHECK(mapping::unsupported_features(cfg).empty());
}
