#pragma once
// Internal: YAML text -> the one document it must contain, or why not. Never throws.

#include <string>
#include <string_view>

#include <yaml-cpp/yaml.h>

#include "config/detail/reader.hpp"

namespace crmsync::config::detail {

struct YamlDocument {
  YAML::Node root;      // meaningful only when problem is empty
  Pos problem_pos;      // 1-based
  std::string problem;  // "invalid YAML: ...", "the configuration is empty", ...
};

YamlDocument parse_single_document(std::string_view text);

}  // namespace crmsync::config::detail
