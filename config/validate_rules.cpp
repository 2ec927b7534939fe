// The value rules of `mappings[].columns.<col>` and `mappings[].add`.

#include <fmt/format.h>

#include <algorithm>
#include <regex>

#include "config/detail/rules.hpp"
#include "core/calling_codes.hpp"
#include "core/date_pattern.hpp"

namespace crmsync::config::detail {
namespace {

constexpr std::string_view kTransforms[] = {"trim", "lower", "upper", "null_if_empty", "strip_non_digits",
                                            "e164", "map",   "cast",  "truncate",      "date_format"};
// Transforms that take an argument: written as a one-key mapping.
constexpr bool takes_argument(TransformKind k) {
  return k == TransformKind::E164 || k == TransformKind::Map || k == TransformKind::Cast ||
         k == TransformKind::Truncate || k == TransformKind::DateFormat;
}
constexpr std::string_view kValidators[] = {"not_null", "email",      "phone",  "uuid",
                                            "regex",    "max_length", "one_of", "range"};
constexpr bool takes_argument(ValidatorKind k) {
  return k == ValidatorKind::Regex || k == ValidatorKind::MaxLength || k == ValidatorKind::OneOf ||
         k == ValidatorKind::Range;
}
constexpr std::string_view kCastTypes[] = {"text",    "integer", "bigint",    "smallint", "numeric",
                                           "boolean", "date",    "timestamp", "uuid"};
constexpr std::string_view kMapKeys[] = {"values", "default"};
constexpr std::string_view kRangeKeys[] = {"min", "max"};
constexpr std::string_view kSplitKeys[] = {"into", "separator", "at"};
constexpr std::string_view kSplitAt[] = {"first", "last"};
constexpr std::string_view kAddedKeys[] = {"constant", "default", "concat", "separator", "transform", "validate"};

// A rule item: its name (scalar, or the one key of a mapping) and its argument, if any.
struct RuleItem {
  Value name;
  std::optional<Value> argument;
};

std::optional<RuleItem> rule_item(Context& ctx, const Value& item, std::string_view noun) {
  if (item.node.IsScalar()) return RuleItem{item, std::nullopt};
  if (!item.node.IsMap() || item.node.size() != 1) {
    ctx.error(
        item.pos, item.path,
        fmt::format("expected a {0} name or a one-key mapping ({0}: argument), got {1}", noun, describe(item.node)));
    return std::nullopt;
  }
  const auto it = item.node.begin();
  const YAML::Node key = it->first;
  const YAML::Node value = it->second;
  if (!key.IsScalar()) {
    ctx.error(item.pos, item.path, "expected a string key, got " + describe(key));
    return std::nullopt;
  }
  Value name{key, item.path, pos_of(key), pos_of(key)};
  Value argument{value, child_path(item.path, key.Scalar()), value.IsNull() ? pos_of(key) : pos_of(value), pos_of(key)};
  return RuleItem{name, argument};
}

template <typename Reader>
void read_list(Context& ctx, const Value& v, std::string_view noun, Reader one) {
  if (v.node.IsScalar() || (v.node.IsMap() && v.node.size() == 1)) {
    one(v);
    return;
  }
  if (!v.node.IsSequence()) {
    ctx.error(v.pos, v.path, fmt::format("expected a {0} or a list of {0}s, got {1}", noun, describe(v.node)));
    return;
  }
  for (const Value& item : items_of(v)) one(item);
}

bool missing_argument(Context& ctx, const RuleItem& r, std::string_view name, std::string_view example) {
  if (r.argument) return false;
  ctx.error(r.name.pos, r.name.path, fmt::format("{} needs an argument, e.g. {{{}: {}}}", quoted(name), name, example));
  return true;
}

bool read_map_transform(Context& ctx, const Value& arg, Transform& t) {
  if (!expect_map(ctx, arg)) return false;
  const Section s(ctx, arg, kMapKeys);
  auto values = s.require("values");
  if (!values || !expect_map(ctx, *values)) return false;
  const Section entries(ctx, *values, {});
  for (const auto& [from, to] : entries.entries()) {
    auto text = read_string(ctx, to);
    if (text) t.values.emplace(from, std::move(text->value));
  }
  if (auto d = s.get("default")) {
    if (auto text = read_string(ctx, *d)) t.fallback = std::move(text->value);
  }
  return true;
}

bool read_transform_argument(Context& ctx, const Value& arg, Transform& t) {
  switch (t.kind) {
    case TransformKind::E164: {
      auto country = read_nonempty(ctx, arg);
      if (!country) return false;
      if (!calling_code(country->value)) {
        ctx.error(arg.pos, arg.path,
                  fmt::format("unknown default country {} (an ISO 3166 code in upper case, e.g. US, DE, GB)",
                              country->shown()));
        return false;
      }
      t.argument = country->value;
      return true;
    }
    case TransformKind::Map: return read_map_transform(ctx, arg, t);
    case TransformKind::Cast: {
      auto i = read_choice(ctx, arg, "cast type", kCastTypes);
      if (i) t.argument = std::string(kCastTypes[*i]);
      return i.has_value();
    }
    case TransformKind::Truncate: {
      auto n = read_int(ctx, arg, 1, 1'000'000'000);
      if (n) t.length = *n;
      return n.has_value();
    }
    case TransformKind::DateFormat: {
      auto format = read_nonempty(ctx, arg);
      if (!format) return false;
      if (auto parsed = DatePattern::parse(format->value); !parsed) {
        ctx.error(arg.pos, arg.path, parsed.error().message);
        return false;
      }
      t.argument = format->value;
      return true;
    }
    default: return true;
  }
}

// A decimal number as written, for range bounds: -12, 3.5, 1e3.
bool is_number(const std::string& s) {
  static const std::regex kNumber(R"([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)");
  return std::regex_match(s, kNumber);
}

bool read_range(Context& ctx, const Value& arg, Validator& val) {
  if (!expect_map(ctx, arg)) return false;
  const Section s(ctx, arg, kRangeKeys);
  bool ok = true;
  for (auto [key, field] : {std::pair{"min", &val.min}, std::pair{"max", &val.max}}) {
    auto v = s.get(key);
    if (!v) continue;
    auto text = read_nonempty(ctx, *v);
    if (!text || !is_number(text->value)) {
      if (text) ctx.error(v->pos, v->path, fmt::format("expected a number, got {}", text->shown()));
      ok = false;
      continue;
    }
    *field = text->value;
  }
  if (ok && !val.min && !val.max) {
    ctx.error(arg.pos, arg.path, "a range needs min, max or both");
    return false;
  }
  if (ok && val.min && val.max && std::stold(*val.min) > std::stold(*val.max)) {
    ctx.error(arg.pos, arg.path, fmt::format("min {} is greater than max {}", *val.min, *val.max));
    return false;
  }
  return ok;
}

bool read_validator_argument(Context& ctx, const Value& arg, Validator& val) {
  switch (val.kind) {
    case ValidatorKind::Regex: {
      auto pattern = read_nonempty(ctx, arg);
      if (!pattern) return false;
      try {
        std::regex compiled(pattern->value);
      } catch (const std::regex_error& e) {
        ctx.error(arg.pos, arg.path, fmt::format("invalid regular expression {}: {}", pattern->shown(), e.what()));
        return false;
      }
      val.pattern = pattern->value;
      return true;
    }
    case ValidatorKind::MaxLength: {
      auto n = read_int(ctx, arg, 1, 1'000'000'000);
      if (n) val.length = *n;
      return n.has_value();
    }
    case ValidatorKind::OneOf: {
      if (!expect_list(ctx, arg)) return false;
      for (const Value& item : items_of(arg)) {
        if (auto text = read_string(ctx, item)) val.values.push_back(std::move(text->value));
      }
      return true;
    }
    case ValidatorKind::Range: return read_range(ctx, arg, val);
    default: return true;
  }
}

}  // namespace

void read_transforms(Context& ctx, const Value& v, std::vector<Transform>& out) {
  read_list(ctx, v, "transform", [&](const Value& item) {
    auto r = rule_item(ctx, item, "transform");
    if (!r) return;
    auto i = read_choice(ctx, r->name, "transform", kTransforms);
    if (!i) return;
    Transform t;
    t.kind = static_cast<TransformKind>(*i);
    if (!takes_argument(t.kind)) {
      if (r->argument)
        ctx.error(r->argument->pos, r->argument->path, fmt::format("{} takes no argument", quoted(kTransforms[*i])));
      out.push_back(std::move(t));
      return;
    }
    if (missing_argument(ctx, *r, kTransforms[*i], t.kind == TransformKind::Truncate ? "100" : "...")) return;
    if (read_transform_argument(ctx, *r->argument, t)) out.push_back(std::move(t));
  });
}

void read_validators(Context& ctx, const Value& v, std::vector<Validator>& out) {
  read_list(ctx, v, "validator", [&](const Value& item) {
    auto r = rule_item(ctx, item, "validator");
    if (!r) return;
    auto i = read_choice(ctx, r->name, "validator", kValidators);
    if (!i) return;
    Validator val;
    val.kind = static_cast<ValidatorKind>(*i);
    if (!takes_argument(val.kind)) {
      if (r->argument)
        ctx.error(r->argument->pos, r->argument->path, fmt::format("{} takes no argument", quoted(kValidators[*i])));
      out.push_back(std::move(val));
      return;
    }
    if (missing_argument(ctx, *r, kValidators[*i], val.kind == ValidatorKind::MaxLength ? "100" : "...")) return;
    if (read_validator_argument(ctx, *r->argument, val)) out.push_back(std::move(val));
  });
}

std::optional<Split> read_split(Context& ctx, const Value& v) {
  if (!expect_map(ctx, v)) return std::nullopt;
  const Section s(ctx, v, kSplitKeys);
  Split split;
  auto into = s.require("into");
  if (!into || !expect_list(ctx, *into)) return std::nullopt;
  for (const Value& item : items_of(*into)) {
    auto column = read_nonempty(ctx, item);
    if (!column) return std::nullopt;
    if (std::find(split.into.begin(), split.into.end(), column->value) != split.into.end()) {
      ctx.error(item.pos, item.path, fmt::format("column {} is listed twice", column->shown()));
      return std::nullopt;
    }
    split.into.push_back(std::move(column->value));
  }
  if (split.into.size() < 2) {
    ctx.error(into->pos, into->path, "split needs at least two target columns");
    return std::nullopt;
  }
  if (auto sep = s.get("separator")) {
    auto text = read_nonempty(ctx, *sep);
    if (!text) return std::nullopt;
    split.separator = std::move(text->value);
  }
  if (auto at = s.get("at")) {
    auto i = read_choice(ctx, *at, "split position", kSplitAt);
    if (!i) return std::nullopt;
    split.at_last = *i == 1;
  }
  return split;
}

void read_added(Context& ctx, const Value& v, std::map<std::string, AddedColumn>& out,
                const std::function<std::optional<std::string>(const std::string&)>& written_by) {
  if (!expect_map(ctx, v)) return;
  const Section columns(ctx, v, {});
  for (const auto& [name, value] : columns.entries()) {
    if (name.empty()) {
      ctx.error(value.key_pos, v.path, "empty column name");
      continue;
    }
    if (auto other = written_by(name)) {
      ctx.error(value.key_pos, value.path, fmt::format("target column {} is also written by {}", quoted(name), *other));
      continue;
    }
    if (!expect_map(ctx, value)) continue;
    const Section s(ctx, value, kAddedKeys);
    AddedColumn column;
    int kinds = 0;
    if (auto c = s.get("constant")) {
      ++kinds;
      if (auto text = read_string(ctx, *c)) column.value = std::move(text->value);
    }
    if (auto d = s.get("default")) {
      ++kinds;
      column.kind = AddedKind::Default;
      if (auto text = read_string(ctx, *d)) column.value = std::move(text->value);
    }
    if (auto c = s.get("concat")) {
      ++kinds;
      column.kind = AddedKind::Concat;
      if (expect_list(ctx, *c)) {
        for (const Value& item : items_of(*c)) {
          if (auto source = read_nonempty(ctx, item)) column.columns.push_back(std::move(source->value));
        }
      }
    }
    if (kinds != 1) {
      ctx.error(value.pos, value.path, "expected exactly one of constant, default or concat");
      continue;
    }
    const bool concat = column.kind == AddedKind::Concat;
    for (const char* key : {"separator", "transform", "validate"}) {
      auto k = s.get(key);
      if (!k || concat) continue;
      ctx.error(k->key_pos, k->path, fmt::format("{} applies to concat only", quoted(key)));
    }
    if (auto sep = s.get("separator"); sep && concat) {
      if (auto text = read_string(ctx, *sep)) column.separator = std::move(text->value);
    }
    if (auto t = s.get("transform"); t && concat) read_transforms(ctx, *t, column.transform);
    if (auto val = s.get("validate"); val && concat) read_validators(ctx, *val, column.validate);
    out.emplace(name, std::move(column));
  }
}

}  // namespace crmsync::config::detail
