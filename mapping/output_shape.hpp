#pragma once
// What kind of value a mapping writes into each target column, read from the config alone: for
// `crmsync check` to see whether the target's types fit after the transforms (an e164 phone into
// an integer column, a date_format with a time into a date column, a map value the target's enum
// lacks, text longer than a varchar), before a row is copied. Pure; no I/O.

#include <map>
#include <string>

#include "config/pipeline_config.hpp"
#include "core/output_shape.hpp"

namespace crmsync::mapping {

using crmsync::OutputShape;
using crmsync::Produces;

/// Per target column the mapping writes through a rule (columns carried unchanged are absent).
std::map<std::string, OutputShape> output_shapes(const config::Mapping& mapping);

}  // namespace crmsync::mapping
