#pragma once
// Shared by the config tests: load YAML text with a fake environment and fake secret files, and
// get the errors exactly as a user would see them.

#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.hpp"

namespace crmsync::config::test {

/// Rendered errors. Its own type so the printer below cannot clash with another module's tests.
struct Errors : std::vector<std::string> {
  using std::vector<std::string>::vector;
};

struct Fakes {
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> files;
};

inline EnvLookup fake_env(const Fakes& fakes) {
  return [map = fakes.env](const std::string& name) -> std::optional<std::string> {
    const auto it = map.find(name);
    if (it == map.end()) return std::nullopt;
    return it->second;
  };
}

inline FileReader fake_files(const Fakes& fakes) {
  return [map = fakes.files](const std::string& path) -> std::optional<std::string> {
    const auto it = map.find(path);
    if (it == map.end()) return std::nullopt;
    return it->second;
  };
}

inline LoadResult load(std::string_view yaml, const Fakes& fakes = {}) {
  return load_config_text(yaml, "crmsync.yaml", fake_env(fakes), fake_files(fakes));
}

/// Every error, rendered. Also checks the contract that a config comes out iff there are none.
inline Errors errors_of(std::string_view yaml, const Fakes& fakes = {}) {
  const LoadResult result = load(yaml, fakes);
  CHECK(result.config.has_value() == result.errors.empty());
  Errors out;
  for (const ConfigError& e : result.errors) out.push_back(e.to_string());
  return out;
}

/// Five valid lines (name, source, target); cases append from line 6 on.
inline constexpr std::string_view kHead = R"(name: demo
source:
  dsn: host=a
target:
  dsn: host=b
)";

inline Errors errors_with_head(std::string_view rest, const Fakes& fakes = {}) {
  return errors_of(std::string(kHead) + std::string(rest), fakes);
}

}  // namespace crmsync::config::test

// So a failing CHECK(errors_of(...) == Errors{...}) prints both lists, one error per line.
template <>
struct doctest::StringMaker<crmsync::config::test::Errors> {
  static doctest::String convert(const crmsync::config::test::Errors& v) {
    std::ostringstream out;
    out << "{";
    for (const std::string& s : v) out << "\n  " << s;
    out << (v.empty() ? "}" : "\n}");
    return out.str().c_str();
  }
};
