#include "mapping/output_shape.hpp"

#include <algorithm>

namespace crmsync::mapping {
namespace {

void bound(OutputShape& s, std::int64_t chars) {
  s.max_chars = s.max_chars ? std::min(*s.max_chars, chars) : chars;
}

// Applies a transform chain to a shape, in the order written.
void apply(OutputShape& s, const std::vector<config::Transform>& transforms) {
  using K = config::TransformKind;
  for (const auto& t : transforms) {
    switch (t.kind) {
      case K::E164:
        s = OutputShape{
            .produces = Produces::Text, .produced_by = "e164", .cast_type = {}, .literals = {}, .max_chars = 16};
        break;
      case K::DateFormat: {
        const bool time = t.argument.find("HH24") != std::string::npos || t.argument.find("MI") != std::string::npos ||
                          t.argument.find("SS") != std::string::npos;
        s = OutputShape{.produces = time ? Produces::Timestamp : Produces::Date,
                        .produced_by = "date_format",
                        .cast_type = {},
                        .literals = {},
                        .max_chars = std::nullopt};
        break;
      }
      case K::Cast:
        s = OutputShape{.produces = Produces::Cast,
                        .produced_by = "cast",
                        .cast_type = t.argument,
                        .literals = {},
                        .max_chars = std::nullopt};
        break;
      case K::Map: {
        OutputShape m{.produces = Produces::Literal,
                      .produced_by = "map",
                      .cast_type = {},
                      .literals = {},
                      .max_chars = std::nullopt};
        for (const auto& [from, to] : t.values) {
          if (std::find(m.literals.begin(), m.literals.end(), to) == m.literals.end()) m.literals.push_back(to);
        }
        if (t.fallback) m.literals.push_back(*t.fallback);
        s = std::move(m);
        break;
      }
      case K::Truncate: bound(s, t.length); break;
      case K::Trim:
      case K::Lower:
      case K::Upper:
      case K::NullIfEmpty:
      case K::StripNonDigits: break;  // the kind of value stays (a number trimmed is a number)
    }
  }
}

void validate(OutputShape& s, const std::vector<config::Validator>& validators) {
  for (const auto& v : validators) {
    if (v.kind == config::ValidatorKind::MaxLength) bound(s, v.length);
  }
}

}  // namespace

std::map<std::string, OutputShape> output_shapes(const config::Mapping& mapping) {
  std::map<std::string, OutputShape> out;
  for (const auto& [source, c] : mapping.columns) {
    OutputShape s;
    if (c.split)
      s = OutputShape{.produces = Produces::Text,
                      .produced_by = "split",
                      .cast_type = {},
                      .literals = {},
                      .max_chars = std::nullopt};
    if (c.lookup) {
      s.produces = Produces::Lookup;
      s.produced_by = "lookup";
    }
    apply(s, c.transform);
    validate(s, c.validate);
    // `default` is written as it is wherever the value would be NULL.
    OutputShape with_default = s;
    if (c.fallback) with_default.literals.push_back(*c.fallback);
    const bool plain = c.transform.empty() && c.validate.empty() && !c.fallback && !c.split && !c.lookup;
    if (plain) continue;  // a rename: the "types differ" note covers it
    if (c.split) {
      for (const auto& part : c.split->into) out[part] = with_default;
    } else {
      out[c.to] = with_default;
    }
  }
  for (const auto& [target, a] : mapping.add) {
    OutputShape s;
    if (a.kind == config::AddedKind::Concat) {
      s = OutputShape{.produces = Produces::Text,
                      .produced_by = "concat",
                      .cast_type = {},
                      .literals = {},
                      .max_chars = std::nullopt};
      apply(s, a.transform);
    } else {
      s = OutputShape{.produces = Produces::Literal,
                      .produced_by = a.kind == config::AddedKind::Constant ? "constant" : "default",
                      .cast_type = {},
                      .literals = {a.value},
                      .max_chars = std::nullopt};
    }
    validate(s, a.validate);
    out[target] = s;
  }
  return out;
}

}  // namespace crmsync::mapping
