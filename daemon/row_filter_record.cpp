#include "daemon/row_filter_record.hpp"

#include <fmt/format.h>

#include <set>

#include <nlohmann/json.hpp>

namespace crmsync::daemon {
namespace {

using json = nlohmann::json;
constexpr const char* kMetaKey = "row_filters";

std::string shown(const config::RowFilters& filters, const config::TableName& t) {
  const auto it = filters.find(t);
  return it == filters.end() ? std::string("none") : "(" + it->second + ")";
}

}  // namespace

Result<RowFilterRecord> RowFilterRecord::load(const checkpoint::Store& store) {
  auto text = store.get_meta(kMetaKey);
  if (!text) return text.take_error();
  RowFilterRecord out;
  if (!text->has_value()) return out;
  try {
    const auto doc = json::parse(**text);  // named: a range-for over a temporary's member dangles
    for (const auto& t : doc.at("tables")) {
      const config::TableName name{t.at("schema").get<std::string>(), t.at("table").get<std::string>()};
      out.configured.emplace(name, t.at("where").get<std::string>());
      out.published.emplace(name, t.at("published").get<std::string>());
    }
  } catch (const json::exception& e) {
    return Error{ErrorCode::Io, fmt::format("checkpoint: the row filter record is malformed ({})", e.what())};
  }
  return out;
}

Status RowFilterRecord::save(checkpoint::Store& store) const {
  json tables = json::array();
  for (const auto& [name, where] : configured) {
    const auto it = published.find(name);
    tables.push_back({{"schema", name.schema},
                      {"table", name.table},
                      {"where", where},
                      {"published", it == published.end() ? std::string() : it->second}});
  }
  return store.put_meta(kMetaKey, json{{"tables", tables}}.dump());
}

std::optional<std::string> row_filter_refusal(const RowFilterRecord& recorded, const config::PipelineConfig& cfg,
                                              const config::RowFilters& published) {
  const auto configured = cfg.row_filters();
  std::set<config::TableName> tables;
  for (const auto* m : {&recorded.configured, &configured, &recorded.published, &published}) {
    for (const auto& [name, _] : *m) tables.insert(name);
  }
  std::vector<std::string> problems;
  for (const auto& t : tables) {
    if (shown(recorded.configured, t) != shown(configured, t)) {
      problems.push_back(fmt::format(
          "the where of {} was {} when the copy began and is {} in the config now: the target holds the rows of the "
          "old filter, and rows only the new one lets through were never copied. Put the old where back, or copy the "
          "table again under the new one",
          t.qualified(), shown(recorded.configured, t), shown(configured, t)));
    } else if (shown(recorded.published, t) != shown(published, t)) {
      problems.push_back(fmt::format(
          "the publication's row filter on {} was {} when the copy began and is {} now (edited by hand?): the "
          "stream no longer sends the rows the copy chose. Run on the source: ALTER PUBLICATION {} SET TABLE ... "
          "with the filter as it was",
          t.qualified(), shown(recorded.published, t), shown(published, t), cfg.source.publication));
    }
  }
  if (problems.empty()) return std::nullopt;
  return fmt::format("{}", fmt::join(problems, "; "));
}

}  // namespace crmsync::daemon
