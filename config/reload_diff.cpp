#include "config/reload_diff.hpp"

#include <yaml-cpp/yaml.h>

#include <map>
#include <set>

#include "config/detail/yaml_document.hpp"

namespace crmsync::config {
namespace {

// Leaf path -> a canonical rendering of its value (a sequence or a scalar).
void flatten(const YAML::Node& node, const std::string& path, std::map<std::string, std::string>& out) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      const auto key = kv.first.Scalar();
      flatten(kv.second, path.empty() ? key : path + "." + key, out);
    }
    return;
  }
  YAML::Emitter e;
  e.SetMapFormat(YAML::Flow);
  e.SetSeqFormat(YAML::Flow);
  e << node;
  out[path] = e.c_str();
}

std::map<std::string, std::string> leaves(std::string_view text) {
  std::map<std::string, std::string> out;
  const auto doc = detail::parse_single_document(text);
  if (doc.problem.empty()) flatten(doc.root, "", out);
  return out;
}

}  // namespace

std::vector<std::string> changed_keys(std::string_view before, std::string_view after) {
  const auto a = leaves(before);
  const auto b = leaves(after);
  std::set<std::string> changed;
  for (const auto& [k, v] : a) {
    const auto it = b.find(k);
    if (it == b.end() || it->second != v) changed.insert(k);
  }
  for (const auto& [k, _] : b) {
    if (!a.contains(k)) changed.insert(k);
  }
  return {changed.begin(), changed.end()};
}

}  // namespace crmsync::config
