#pragma once
// What kind of value a mapping writes into a target column (mapping/output_shape.hpp computes it
// from the config; the target preflight checks the target's type against it).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace crmsync {

enum class Produces {
  SourceValue,  // the source value, maybe with transforms that keep its kind (trim, lower, truncate)
  Text,         // text whatever the source was: e164, split, concat
  Date,         // date_format without a time: YYYY-MM-DD
  Timestamp,    // date_format with a time: YYYY-MM-DD HH:MI:SS
  Cast,         // cast: a value of `cast_type`
  Literal,      // only `literals` (a map): checked value by value
  Lookup,       // a lookup's `take`: the lookup's own check covers it
};

struct OutputShape {
  Produces produces = Produces::SourceValue;
  std::string produced_by;                // the rule that decides it: "e164", "split", "date_format", ...
  std::string cast_type;                  // Produces::Cast
  std::vector<std::string> literals;      // written as they are: map values and default, default, constant
  std::optional<std::int64_t> max_chars;  // a truncate or max_length bound on the value
};

}  // namespace crmsync
