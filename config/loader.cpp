// Entry points: text or file in, a validated PipelineConfig or every problem out. yaml-cpp
// exceptions stop here.

#include "config/loader.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <system_error>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "config/detail/reader.hpp"
#include "config/detail/validate.hpp"
#include "config/detail/yaml_document.hpp"

namespace crmsync::config {

std::string ConfigError::to_string() const {
  std::string out = file;
  if (line > 0) out += fmt::format(":{}:{}", line, column);
  out += ": ";
  if (!path.empty()) out += path + ": ";
  return out + message;
}

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    // getenv is only unsafe against a concurrent setenv, which crmsync never calls.
    const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

FileReader filesystem_reader() {
  return [](const std::string& path) -> std::optional<std::string> {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream contents;
    contents << in.rdbuf();
    if (in.bad()) return std::nullopt;
    return std::move(contents).str();
  };
}

LoadResult load_config_text(std::string_view yaml, const std::string& file, const EnvLookup& env,
                            const FileReader& files) {
  const auto fail = [&](int line, int column, std::string message) {
    return LoadResult{std::nullopt, {ConfigError{file, line, column, "", std::move(message)}}};
  };
  detail::YamlDocument doc = detail::parse_single_document(yaml);
  if (!doc.problem.empty()) return fail(doc.problem_pos.line, doc.problem_pos.column, std::move(doc.problem));
  detail::Context ctx(file, env, files);
  std::optional<PipelineConfig> config;
  try {
    config = detail::validate_document(ctx, doc.root);
  } catch (const YAML::Exception& e) {
    // Only reachable through a bug in the validators (an invalid node access); still no throw.
    ctx.error({e.mark.line + 1, e.mark.column + 1}, "", fmt::format("internal error reading the YAML: {}", e.msg));
    config.reset();
  }
  LoadResult result;
  result.errors = ctx.take_errors();
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

LoadResult load_config_file(const std::string& path, const EnvLookup& env, const FileReader& files) {
  // Read directly rather than through `files`: that one is for secrets and says only yes or no,
  // while an unreadable config deserves the OS's reason.
  const auto fail = [&](int err) {
    return LoadResult{std::nullopt, {ConfigError{path, 0, 0, "",
                                                 fmt::format("cannot read the configuration file: {}",
                                                             std::generic_category().message(err))}}};
  };
  errno = 0;
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return fail(errno);
  std::string text;
  char buffer[8192];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, f.get())) > 0) text.append(buffer, n);
  if (std::ferror(f.get()) != 0) return fail(errno != 0 ? errno : EIO);
  return load_config_text(text, path, env, files);
}

}  // namespace crmsync::config
