// A source row to a target row: column order, renames, splits, added columns, unchanged TOAST.

#include <doctest/doctest.h>

#include "mapping/row_mapper.hpp"

using namespace crmsync;
using namespace crmsync::mapping;

namespace {

const std::vector<std::string> kContacts = {"id", "full_name", "email", "phone", "stage", "ssn", "notes"};

config::Mapping contacts_mapping() {
  config::Mapping m;
  m.from = {"public", "contacts"};
  m.to = {"crm", "people"};
  m.exclude = {"ssn"};
  m.columns["id"].to = "legacy_id";
  auto& name = m.columns["full_name"];
  name.transform = {config::Transform::of(config::TransformKind::Trim)};
  name.split = config::Split{" ", {"first_name", "last_name"}, true};
  auto& email = m.columns["email"];
  email.to = "email";
  email.transform = {config::Transform::of(config::TransformKind::Trim),
                     config::Transform::of(config::TransformKind::Lower)};
  email.validate = {config::Validator::of(config::ValidatorKind::Email)};
  auto& phone = m.columns["phone"];
  phone.to = "phone";
  auto e164 = config::Transform::of(config::TransformKind::E164);
  e164.argument = "US";
  phone.transform = {e164};
  auto& stage = m.columns["stage"];
  stage.to = "stage";
  auto map = config::Transform::of(config::TransformKind::Map);
  map.values = {{"01", "lead"}, {"02", "won"}};
  map.fallback = "unknown";
  stage.transform = {map};
  m.columns["notes"].to = "notes";
  m.columns["notes"].fallback = "(none)";  // for a NULL
  m.add["source_system"] = config::AddedColumn{config::AddedKind::Constant, "legacy_a", {}, " ", {}, {}};
  m.add["status"] = config::AddedColumn{config::AddedKind::Default, "active", {}, " ", {}, {}};
  m.add["search"] = config::AddedColumn{config::AddedKind::Concat,
                                        "",
                                        {"full_name", "email"},
                                        " | ",
                                        {config::Transform::of(config::TransformKind::Lower)},
                                        {}};
  return m;
}

Row row(std::initializer_list<std::optional<std::string>> values) {
  Row out;
  for (const auto& v : values) out.push_back(v ? Value::of(*v) : Value::null());
  return out;
}

std::vector<std::string> texts(const Row& r) {
  std::vector<std::string> out;
  for (const auto& v : r) out.push_back(v.is_null() ? "NULL" : v.is_unchanged_toast() ? "UNCHANGED" : v.text);
  return out;
}

}  // namespace

TEST_CASE("row mapper: target columns in order, every rule applied, defaults on insert only") {
  const auto m = contacts_mapping();
  auto mapper = RowMapper::compile(&m, kContacts, Encoding::Utf8);
  REQUIRE_MESSAGE(mapper.ok(), (mapper.ok() ? "" : mapper.error().message));
  CHECK(mapper->target_columns() == std::vector<std::string>{"legacy_id", "first_name", "last_name", "email", "phone",
                                                             "stage", "notes", "search", "source_system", "status"});
  CHECK(mapper->changes_values());
  CHECK(mapper->can_reject());
  CHECK(mapper->carried_to(0) == 0);
  CHECK_FALSE(mapper->carried_to(1));  // split
  CHECK(mapper->carried_to(2) == 3);
  CHECK_FALSE(mapper->carried_to(5));  // excluded
  const auto in =
      row({"7", " Mary Ann Smith ", " Mary@Example.COM", "(555) 123-4567", "07", "123-45-6789", std::nullopt});
  const auto inserted = mapper->map(in, RowOp::Insert);
  REQUIRE(inserted.ok());
  CHECK(texts(inserted.row) == std::vector<std::string>{"7", "Mary Ann", "Smith", "mary@example.com", "+15551234567",
                                                        "unknown", "(none)", " mary ann smith  |  mary@example.com",
                                                        "legacy_a", "active"});
  const auto updated = mapper->map(in, RowOp::Update);
  REQUIRE(updated.ok());
  CHECK(texts(updated.row).back() == "UNCHANGED");  // the new CRM's own status is kept
  CHECK(texts(updated.row)[8] == "legacy_a");       // the origin tag is written every time
}

TEST_CASE("row mapper: the first refused rule names the target column, and old rows are never validated") {
  const auto m = contacts_mapping();
  auto mapper = RowMapper::compile(&m, kContacts, Encoding::Utf8).value();
  const auto bad_email = mapper.map(row({"8", "Bo", "bo at example", "555 123 4567", "01", "", ""}), RowOp::Insert);
  REQUIRE(bad_email.rejected.has_value());
  CHECK(*bad_email.rejected == Rejection{"email", "email", "\"bo at example\" is not an email address"});
  CHECK(bad_email.row.empty());
  const auto bad_phone = mapper.map(row({"9", "Cy", "cy@example.com", "n/a", "01", "", ""}), RowOp::Update);
  REQUIRE(bad_phone.rejected.has_value());
  CHECK(bad_phone.rejected->column == "phone");
  CHECK(bad_phone.rejected->rule == "e164");
  const auto old =
      mapper.map(row({"8", "Bo", "bo at example", std::nullopt, std::nullopt, std::nullopt, std::nullopt}), RowOp::Old);
  REQUIRE(old.ok());
  CHECK(texts(old.row)[0] == "8");
  const auto one_word =
      mapper.map(row({"10", "Cher", "c@x.io", std::nullopt, "02", std::nullopt, std::nullopt}), RowOp::Insert);
  REQUIRE(one_word.ok());
  CHECK(texts(one_word.row)[1] == "Cher");  // split at the last blank: no blank, the first part takes it all
  CHECK(texts(one_word.row)[2] == "NULL");
  CHECK(texts(one_word.row)[5] == "won");
}

TEST_CASE("row mapper: unchanged TOAST stays unchanged alone, and is asked for when a column also needs other values") {
  const auto m = contacts_mapping();
  auto mapper = RowMapper::compile(&m, kContacts, Encoding::Utf8).value();
  auto in = row({"7", "Ann Lee", "a@x.io", std::nullopt, "01", std::nullopt, std::nullopt});
  in[6] = Value::unchanged_toast();  // notes: carried alone
  const auto kept = mapper.map(in, RowOp::Update);
  REQUIRE(kept.ok());
  CHECK(texts(kept.row)[6] == "UNCHANGED");
  in[1] = Value::unchanged_toast();  // full_name: split (alone) and an input of the concat
  const auto partial = mapper.map(in, RowOp::Update);
  CHECK_FALSE(partial.ok());
  CHECK_FALSE(partial.rejected);
  CHECK(partial.need == std::vector<std::size_t>{1});
  CHECK(partial.row.empty());
}

TEST_CASE("row mapper: identity and rename-only mappings change no value, and mistakes are refused at compile") {
  auto identity = RowMapper::compile(nullptr, {"id", "name"}, Encoding::Utf8).value();
  CHECK(identity.target_columns() == std::vector<std::string>{"id", "name"});
  CHECK_FALSE(identity.changes_values());
  CHECK(texts(identity.map(row({"1", "x"}), RowOp::Insert).row) == std::vector<std::string>{"1", "x"});
  config::Mapping rename;
  rename.columns["id"].to = "legacy_id";
  CHECK_FALSE(RowMapper::compile(&rename, {"id", "name"}, Encoding::Utf8).value().changes_values());
  config::Mapping clash;
  clash.from = {"public", "t"};
  clash.columns["id"].to = "name";  // and "name" keeps its own name
  auto refused = RowMapper::compile(&clash, {"id", "name"}, Encoding::Utf8);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("target column \"name\" would be written twice") != std::string::npos);
  config::Mapping unknown;
  unknown.from = {"public", "t"};
  unknown.add["x"] = config::AddedColumn{config::AddedKind::Concat, "", {"nope"}, " ", {}, {}};
  CHECK(RowMapper::compile(&unknown, {"id"}, Encoding::Utf8).error().message ==
        "add.x: concat names source column \"nope\", which public.t does not have");
  CHECK(identity.map(row({"1"}), RowOp::Insert).rejected->rule == "layout");
}

namespace {

// The parents the new CRM has: legacy account id -> company id.
class Parents final : public LookupSource {
 public:
  Result<std::optional<std::optional<std::string>>> find(const config::Lookup& l, const std::string& value) override {
    ++asked;
    CHECK(l.table == config::TableName{"crm", "companies"});
    if (value == "7") return std::optional<std::optional<std::string>>{std::optional<std::string>{"1007"}};
    return std::optional<std::optional<std::string>>{};
  }
  int asked = 0;
};

}  // namespace

TEST_CASE("row mapper: a lookup replaces the legacy key by the new CRM's, and a missing parent is refused, not NULL") {
  config::Mapping m;
  m.from = {"public", "contacts"};
  m.to = {"crm", "people"};
  m.columns["account_id"].to = "company_id";
  m.columns["account_id"].lookup = config::Lookup{{"crm", "companies"}, "legacy_id", "id"};
  auto mapper = RowMapper::compile(&m, {"id", "account_id"}, Encoding::Utf8);
  REQUIRE(mapper);
  CHECK(mapper->changes_values());
  CHECK(mapper->can_reject());
  REQUIRE(mapper->lookups().size() == 1);
  Parents parents;
  Row row{Value::of("1"), Value::of("7")};
  auto refused = mapper->resolve_lookups(row, parents, RowOp::Insert);
  REQUIRE(refused);
  CHECK(!*refused);
  CHECK(row[1].text == "1007");
  CHECK(mapper->map(row, RowOp::Insert).row == Row{Value::of("1"), Value::of("1007")});
  Row orphan{Value::of("2"), Value::of("8")};
  refused = mapper->resolve_lookups(orphan, parents, RowOp::Insert);
  REQUIRE(refused);
  REQUIRE(*refused);
  CHECK((*refused)->rule == "lookup");
  CHECK((*refused)->column == "account_id");
  CHECK((*refused)->reason == "no crm.companies row has legacy_id = '8' (its parent is not in the new CRM)");
  // An old row only finds the target's row: a parent already gone leaves the value out.
  Row old{Value::of("2"), Value::of("8")};
  refused = mapper->resolve_lookups(old, parents, RowOp::Old);
  REQUIRE(refused);
  CHECK(!*refused);
  CHECK(old[1].is_unchanged_toast());
  // NULL is no reference: nothing to look up.
  Row none{Value::of("3"), Value::null()};
  const int before = parents.asked;
  refused = mapper->resolve_lookups(none, parents, RowOp::Insert);
  CHECK(!*refused);
  CHECK(parents.asked == before);
  CHECK(none[1].is_null());
}
