// Why not YAML::LoadAll: in yaml-cpp 0.7 it loops forever, allocating, on a document that starts
// with a token the parser cannot place (a stray ","): HandleNextDocument reports an empty document
// without consuming anything, again and again (jbeder/yaml-cpp#1040, fixed upstream only after
// 0.8 by #1319). So the documents are first counted with a bounded loop that also notices a parser
// that stopped advancing, and only then is the single document built with YAML::Load.

#include "config/detail/yaml_document.hpp"

#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>

namespace crmsync::config::detail {

namespace {

// Records where each document starts and ignores everything else.
class DocumentStarts final : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;

  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

Pos to_pos(const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0 || mark.column < 0) return {1, 1};
  return {mark.line + 1, mark.column + 1};
}

YamlDocument problem(const YAML::Mark& mark, std::string message) { return {YAML::Node(), to_pos(mark), std::move(message)}; }

}  // namespace

YamlDocument parse_single_document(std::string_view text) {
  const std::string owned(text);
  DocumentStarts handler;
  try {
    std::istringstream in(owned);
    YAML::Parser parser(in);
    // Three calls tell one document from two, and a stuck parser (same start twice) from either.
    while (handler.starts.size() < 3 && parser.HandleNextDocument(handler)) {
      const std::size_t n = handler.starts.size();
      if (n >= 2 && handler.starts[n - 1].pos == handler.starts[n - 2].pos) {
        const YAML::Mark at = handler.starts[n - 1];
        const auto pos = static_cast<std::size_t>(at.pos);
        const char c = pos < owned.size() ? owned[pos] : '\0';
        return problem(at, c > ' ' && c < 127 ? fmt::format("invalid YAML: unexpected \"{}\"", c)
                                              : std::string("invalid YAML: unexpected character"));
      }
    }
    if (handler.starts.size() > 1) {
      return problem(handler.starts[1], "expected a single YAML document; a second one starts here (remove the extra \"---\")");
    }
    YamlDocument doc;
    doc.root = YAML::Load(owned);
    if (handler.starts.empty() || doc.root.IsNull()) return problem(YAML::Mark(), "the configuration is empty");
    return doc;
  } catch (const YAML::Exception& e) {
    // e.msg is yaml-cpp's description without its own "error at line" prefix; the mark is 0-based.
    return problem(e.mark, "invalid YAML: " + e.msg);
  }
}

}  // namespace crmsync::config::detail
