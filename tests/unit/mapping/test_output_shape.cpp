// output_shapes(): what kind of value each target column gets, read from the config alone.

#include <doctest/doctest.h>

#include "mapping/output_shape.hpp"

using namespace crmsync;
using namespace crmsync::mapping;

namespace {

config::Transform with(config::TransformKind k, std::string argument = "", std::int64_t length = 0) {
  auto t = config::Transform::of(k);
  t.argument = std::move(argument);
  t.length = length;
  return t;
}

}  // namespace

TEST_CASE("mapping output shapes: the last rule that decides the kind of value wins, bounds are kept") {
  config::Mapping m;
  m.columns["renamed"].to = "other";  // a plain rename: no shape
  auto& phone = m.columns["phone"];
  phone.to = "phone";
  phone.transform = {with(config::TransformKind::Trim), with(config::TransformKind::E164, "US")};
  auto& seen = m.columns["seen"];
  seen.to = "seen";
  seen.transform = {with(config::TransformKind::DateFormat, "DD/MM/YYYY HH24:MI")};
  auto& born = m.columns["born"];
  born.to = "born";
  born.transform = {with(config::TransformKind::DateFormat, "DD.MM.YYYY")};
  auto& score = m.columns["score"];
  score.to = "score";
  score.transform = {with(config::TransformKind::Trim), with(config::TransformKind::Cast, "integer")};
  auto& stage = m.columns["stage"];
  stage.to = "stage";
  auto map = config::Transform::of(config::TransformKind::Map);
  map.values = {{"01", "lead"}, {"02", "won"}, {"03", "won"}};
  map.fallback = "other";
  stage.transform = {map};
  stage.fallback = "none";
  auto& title = m.columns["title"];
  title.to = "title";
  title.transform = {with(config::TransformKind::Truncate, "", 40), with(config::TransformKind::Upper)};
  auto max = config::Validator::of(config::ValidatorKind::MaxLength);
  max.length = 30;
  title.validate = {max};
  auto& name = m.columns["full_name"];
  name.split = config::Split{" ", {"first_name", "last_name"}, true};
  m.columns["account_id"].to = "company_id";
  m.columns["account_id"].lookup = config::Lookup{};
  m.add["origin"] = config::AddedColumn{.kind = config::AddedKind::Constant, .value = "crm_a", .columns = {},
                                        .separator = " ", .transform = {}, .validate = {}};

  const auto shapes = output_shapes(m);
  CHECK_FALSE(shapes.contains("other"));
  CHECK(shapes.at("phone").produces == Produces::Text);
  CHECK(shapes.at("phone").produced_by == "e164");
  CHECK(shapes.at("phone").max_chars == 16);
  CHECK(shapes.at("seen").produces == Produces::Timestamp);
  CHECK(shapes.at("born").produces == Produces::Date);
  CHECK(shapes.at("score").produces == Produces::Cast);
  CHECK(shapes.at("score").cast_type == "integer");
  CHECK(shapes.at("stage").produces == Produces::Literal);
  CHECK(shapes.at("stage").literals == std::vector<std::string>{"lead", "won", "other", "none"});
  CHECK(shapes.at("title").produces == Produces::SourceValue);
  CHECK(shapes.at("title").max_chars == 30);
  CHECK(shapes.at("first_name").produces == Produces::Text);
  CHECK(shapes.at("last_name").produced_by == "split");
  CHECK(shapes.at("company_id").produces == Produces::Lookup);
  CHECK(shapes.at("origin").produces == Produces::Literal);
  CHECK(shapes.at("origin").literals == std::vector<std::string>{"crm_a"});
}
