#pragma once
// One transform step or one validator on one value. Pure. NULL goes through every transform
// unchanged and passes every validator but not_null, as it passes a SQL CHECK constraint. An
// unchanged-TOAST value never reaches here: the row mapper keeps it as it is, or asks for the
// real value first.

#include <optional>
#include <regex>
#include <string>

#include "config/pipeline_config.hpp"
#include "core/value.hpp"
#include "mapping/text.hpp"

namespace crmsync::mapping {

/// Why a value was refused: the rule's name as written in the config ("e164", "map",
/// "max_length") and a sentence.
struct Refusal {
  std::string rule;
  std::string reason;
};

/// Whether `t` can refuse a value (e164, cast, date_format, a map without a default).
bool can_refuse(const config::Transform& t);

/// Applies `t` to `v` in place, or says why it cannot.
std::optional<Refusal> apply_transform(const config::Transform& t, Value& v, Encoding e);

/// A validator with what it needs prepared once (the compiled regular expression).
class Check {
 public:
  explicit Check(config::Validator v);
  /// Nothing when `v` passes.
  [[nodiscard]] std::optional<Refusal> operator()(const Value& v, Encoding e) const;

 private:
  config::Validator spec_;
  std::optional<std::regex> regex_;
};

/// The config's name of a transform or validator kind, for refusals and reports.
std::string_view rule_name(config::TransformKind k);
std::string_view rule_name(config::ValidatorKind k);

}  // namespace crmsync::mapping
