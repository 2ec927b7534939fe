#pragma once
// YAML -> PipelineConfig. Validation reports every problem at once, each with where it is.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/pipeline_config.hpp"

namespace crmsync::config {

/// One problem in a config file. Rendered as "<file>:<line>:<column>: <path>: <message>", e.g.
/// "crmsync.yaml:12:7: mappings[2].columns.email.transform: unknown transform \"lowr\" (did you mean \"lower\"?)".
/// line and column are 1-based; 0 when the problem has no position (e.g. the file is unreadable).
struct ConfigError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string path;     // key path; empty for whole-document problems
  std::string message;
  [[nodiscard]] std::string to_string() const;
};

/// Looks up an environment variable; std::nullopt when unset. Injected so tests need no setenv.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
/// Reads a whole file (for ${file:/path}); std::nullopt when it cannot be read.
using FileReader = std::function<std::optional<std::string>(const std::string&)>;

EnvLookup process_env();
FileReader filesystem_reader();

struct LoadResult {
  std::optional<PipelineConfig> config;  // set iff errors is empty
  std::vector<ConfigError> errors;
};

/// Parses YAML text. `file` is used only in error messages.
LoadResult load_config_text(std::string_view yaml, const std::string& file, const EnvLookup& env = process_env(),
                            const FileReader& files = filesystem_reader());

/// Reads and parses a file.
LoadResult load_config_file(const std::string& path, const EnvLookup& env = process_env(),
                            const FileReader& files = filesystem_reader());

}  // namespace crmsync::config
