#pragma once
// Internal: the schema of the config file, split by section. Each reader reports its own
// problems to the Context and fills what it could; the caller decides whether a config comes out.

#include <optional>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/detail/reader.hpp"
#include "config/detail/table_name.hpp"
#include "config/pipeline_config.hpp"

namespace crmsync::config::detail {

/// Where each mapping's tables were written, for checks that span mappings and source.tables.
struct MappingSite {
  std::optional<LocatedTable> from;  // nullopt when missing or invalid (already reported)
  std::optional<LocatedTable> to;    // the `to` key, or `from` again when `to` is omitted
  bool to_written = false;
};

struct MappingsRead {
  std::vector<Mapping> mappings;
  std::vector<MappingSite> sites;  // parallel to mappings
  bool invalid = false;            // `mappings` was not a list (already reported)
};

/// `mappings:` — every mapping, its columns, and the duplicate from/to checks among mappings.
MappingsRead read_mappings(Context& ctx, const Value& list);

/// The whole document. nullopt when anything was reported.
std::optional<PipelineConfig> validate_document(Context& ctx, const YAML::Node& root);

}  // namespace crmsync::config::detail
