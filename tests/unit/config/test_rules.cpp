// Value rules of a mapping (transform, validate, default, split) and the columns it adds.

#include <doctest/doctest.h>

#include "tests/unit/config/support.hpp"

namespace crmsync::config::test {

namespace {

LoadResult load_with_head(std::string_view rest) {
  return load(std::string(kHead) + std::string(rest));
}

}  // namespace

TEST_CASE("config: every transform, validator, split and added column is parsed with its argument") {
  const auto r = load_with_head(R"(mappings:
  - from: contacts
    to: crm.people
    columns:
      phone: {transform: [trim, {e164: DE}], validate: phone}
      stage:
        transform: {map: {values: {"01": lead, "02": won}, default: unknown}}
        validate: {one_of: [lead, won, unknown]}
      notes: {transform: {truncate: 500}, validate: [{max_length: 500}]}
      born: {transform: {date_format: "DD/MM/YYYY"}, default: "1900-01-01"}
      score: {transform: [{cast: integer}], validate: [not_null, {range: {min: 0, max: 100}}]}
      code: {validate: {regex: "^[A-Z]{3}-[0-9]+$"}}
      full_name: {split: {into: [first_name, last_name], at: last}}
    add:
      source_system: {constant: legacy_a}
      status: {default: active}
      display: {concat: [title, full_name], separator: " ", transform: trim, validate: not_null}
)");
  REQUIRE_MESSAGE(r.errors.empty(), r.errors.front().to_string());
  const Mapping& m = r.config->mappings.at(0);
  CHECK(m.columns.at("phone").transform.at(1).kind == TransformKind::E164);
  CHECK(m.columns.at("phone").transform.at(1).argument == "DE");
  const auto& stage = m.columns.at("stage");
  CHECK(stage.transform.at(0).values == std::map<std::string, std::string>{{"01", "lead"}, {"02", "won"}});
  CHECK(stage.transform.at(0).fallback == "unknown");
  CHECK(stage.validate.at(0).values == std::vector<std::string>{"lead", "won", "unknown"});
  CHECK(m.columns.at("notes").transform.at(0).length == 500);
  CHECK(m.columns.at("notes").validate.at(0).length == 500);
  CHECK(m.columns.at("born").transform.at(0).argument == "DD/MM/YYYY");
  CHECK(m.columns.at("born").fallback == "1900-01-01");
  CHECK(m.columns.at("score").transform.at(0).argument == "integer");
  CHECK(m.columns.at("score").validate.at(1).min == "0");
  CHECK(m.columns.at("score").validate.at(1).max == "100");
  CHECK(m.columns.at("code").validate.at(0).pattern == "^[A-Z]{3}-[0-9]+$");
  REQUIRE(m.columns.at("full_name").split.has_value());
  CHECK(m.columns.at("full_name").split->into == std::vector<std::string>{"first_name", "last_name"});
  CHECK(m.columns.at("full_name").split->separator == " ");
  CHECK(m.columns.at("full_name").split->at_last);
  CHECK(m.add.at("source_system").kind == AddedKind::Constant);
  CHECK(m.add.at("source_system").value == "legacy_a");
  CHECK(m.add.at("status").kind == AddedKind::Default);
  const auto& display = m.add.at("display");
  CHECK(display.kind == AddedKind::Concat);
  CHECK(display.columns == std::vector<std::string>{"title", "full_name"});
  CHECK(display.transform == std::vector<Transform>{Transform::of(TransformKind::Trim)});
  CHECK(display.validate == std::vector<Validator>{Validator::of(ValidatorKind::NotNull)});
}

TEST_CASE("config error: rule arguments that are missing, unknown or malformed are named where written") {
  CHECK(errors_with_head(R"(mappings:
  - from: contacts
    columns:
      phone: {transform: [e164, {e164: XX}, {trim: 1}]}
      born: {transform: {date_format: "DD/MM/YY"}}
      code: {validate: [{regex: "[a-"}, {range: {min: 9, max: 1}}, {max_length: 0}]}
      stage: {transform: {cast: money}}
)") == Errors{
           "crmsync.yaml:9:27: mappings[0].columns.phone.transform[0]: \"e164\" needs an argument, e.g. {e164: ...}",
           "crmsync.yaml:9:40: mappings[0].columns.phone.transform[1].e164: unknown default country \"XX\" (an ISO "
           "3166 code in upper case, e.g. US, DE, GB)",
           "crmsync.yaml:9:52: mappings[0].columns.phone.transform[2].trim: \"trim\" takes no argument",
           "crmsync.yaml:10:39: mappings[0].columns.born.transform.date_format: unknown token at \"YY\" in date "
           "format \"DD/MM/YY\" (known: YYYY, MM, DD, HH24, MI, SS)",
           "crmsync.yaml:11:33: mappings[0].columns.code.validate[0].regex: invalid regular expression \"[a-\": "
           "Invalid end of '[x-x]' range in regular expression",
           "crmsync.yaml:11:49: mappings[0].columns.code.validate[1].range: min 9 is greater than max 1",
           "crmsync.yaml:11:81: mappings[0].columns.code.validate[2].max_length: must be between 1 and 1000000000, "
           "got 0",
           "crmsync.yaml:12:33: mappings[0].columns.stage.transform.cast: unknown cast type \"money\" (expected one "
           "of: text, integer, bigint, smallint, numeric, boolean, date, timestamp, uuid)",
       });
}

TEST_CASE("config error: split and added columns that clash with other target columns") {
  CHECK(errors_with_head(R"(mappings:
  - from: contacts
    columns:
      name: {split: {into: [first, last]}}
      surname: last
      title: {to: display, split: {into: [a, b]}}
      initials: {split: {into: [one]}}
    add:
      first: {constant: x}
      origin: {constant: a, default: b}
      tag: {default: t, separator: ","}
)") == Errors{
           "crmsync.yaml:10:16: mappings[0].columns.surname: target column \"last\" is also written by "
           "mappings[0].columns.name",
           "crmsync.yaml:11:15: mappings[0].columns.title.to: a split column names its targets in split.into, not in "
           "\"to\"",
           "crmsync.yaml:12:32: mappings[0].columns.initials.split.into: split needs at least two target columns",
           "crmsync.yaml:14:7: mappings[0].add.first: target column \"first\" is also written by "
           "mappings[0].columns.name",
           "crmsync.yaml:15:15: mappings[0].add.origin: expected exactly one of constant, default or concat",
           "crmsync.yaml:16:25: mappings[0].add.tag.separator: \"separator\" applies to concat only",
       });
}

}  // namespace crmsync::config::test
