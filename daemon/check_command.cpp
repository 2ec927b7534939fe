#include "daemon/check_command.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include <nlohmann/json.hpp>

#include "cdc/preflight.hpp"
#include "daemon/pipeline_state.hpp"
#include "daemon/sample_check.hpp"
#include "daemon/sessions.hpp"
#include "mapping/column_plan.hpp"
#include "mapping/output_shape.hpp"
#include "mapping/row_mapper.hpp"
#include "sink/postgres/preflight.hpp"

namespace crmsync::daemon {
namespace {

const char* status_text(CheckStatus s) {
  switch (s) {
    case CheckStatus::Ok: return "ok";
    case CheckStatus::Warn: return "warn";
    case CheckStatus::Fail: return "FAIL";
  }
  return "?";
}

// What the target must hold for one source table, according to its mapping.
sink::postgres::ExpectedTable expect(const config::PipelineConfig& cfg, const config::TableName& table,
                                     const cdc::SourcePreflight& source, CheckReport& config_items) {
  const auto* mapping = cfg.mapping_for(table);
  const auto target = mapping != nullptr ? mapping->to : table;
  sink::postgres::ExpectedTable want{.schema = target.schema,
                                     .name = target.table,
                                     .columns = {},
                                     .may_create = cfg.target.create_tables && mapping == nullptr,
                                     .key = mapping != nullptr ? mapping->key : std::vector<std::string>{}};
  const auto found = source.tables.find(table);
  if (found == source.tables.end()) {
    return want;  // the source check already failed; still see whether the target table exists
  }
  const auto plan = mapping::plan_table(table, found->second, mapping);
  for (const auto& name : plan.unknown_source_columns) {
    config_items.push_back({"config", fmt::format("mapping {}", table.qualified()), CheckStatus::Fail,
                            fmt::format("column \"{}\" is named in the mapping but the source table has no such "
                                        "column",
                                        name)});
  }
  if (mapping != nullptr) {
    // A mapping that changes values writes the RowMapper's columns (splits and added ones too).
    std::vector<std::string> names;
    for (const auto& c : found->second.columns) {
      if (!c.generated) names.push_back(c.name);
    }
    auto mapper = mapping::RowMapper::compile(mapping, names, mapping::Encoding::Utf8);
    if (!mapper && plan.unknown_source_columns.empty()) {
      config_items.push_back(
          {"config", fmt::format("mapping {}", table.qualified()), CheckStatus::Fail, mapper.error().message});
      return want;
    }
    if (mapper && mapper->changes_values()) {
      const auto shapes = mapping::output_shapes(*mapping);
      for (std::size_t t = 0; t < mapper->target_columns().size(); ++t) {
        std::string type;  // a carried column's source type, for the type note
        for (std::size_t i = 0; i < names.size(); ++i) {
          if (mapper->carried_to(i) == t) type = found->second.column(names[i])->type;
        }
        const auto& name = mapper->target_columns()[t];
        const auto shape = shapes.find(name);
        want.columns.push_back(
            {name, type, shape != shapes.end() ? std::optional<OutputShape>(shape->second) : std::nullopt});
      }
      return want;
    }
  }
  for (const auto& pair : plan.columns) {
    want.columns.push_back({pair.target, found->second.column(pair.source)->type, std::nullopt});
  }
  return want;
}

}  // namespace

CheckReport run_preflight(const config::PipelineConfig& cfg) {
  auto source = cdc::preflight_source(cfg);
  CheckReport report = source.report;
  CheckReport config_items;
  std::vector<sink::postgres::ExpectedTable> expected;
  expected.reserve(cfg.source.tables.size());
  for (const auto& table : cfg.source.tables) {
    expected.push_back(expect(cfg, table, source, config_items));
  }
  std::vector<sink::postgres::ExpectedLookup> lookups;
  for (const auto& m : cfg.mappings) {
    for (const auto& [column, c] : m.columns) {
      if (!c.lookup) continue;
      if (c.lookup->table == m.to) {
        config_items.push_back({"config", fmt::format("mapping {}", m.from.qualified()), CheckStatus::Fail,
                                fmt::format("the lookup of column {} reads {}, the table this mapping writes: a lookup "
                                            "within one table is not supported",
                                            column, m.to.qualified())});
        continue;
      }
      lookups.push_back({.schema = c.lookup->table.schema,
                         .table = c.lookup->table.table,
                         .match = c.lookup->match,
                         .take = c.lookup->take,
                         .used_by = fmt::format("{}.{}", m.from.qualified(), column)});
    }
  }
  report.insert(report.end(), config_items.begin(), config_items.end());
  auto target =
      sink::postgres::preflight_target({.connection = bare_target_options(cfg, "crmsync check"),
                                        .replica_role = cfg.target.replication_role == config::ReplicationRole::Replica,
                                        .replica_role_advice = replica_role_advice(cfg.target.dsn)},
                                       expected, lookups);
  report.insert(report.end(), target.begin(), target.end());
  return report;
}

std::string render_check_text(const CheckReport& report) {
  std::size_t name_width = 5;
  for (const auto& i : report) {
    name_width = std::max(name_width, i.name.size());
  }
  std::string out = fmt::format("{:<7} {:<{}} {:<6} {}\n", "SCOPE", "CHECK", name_width, "STATUS", "DETAIL");
  int ok = 0;
  int warn = 0;
  int fail = 0;
  for (const auto& i : report) {
    out += fmt::format("{:<7} {:<{}} {:<6} {}\n", i.scope, i.name, name_width, status_text(i.status), i.detail);
    (i.status == CheckStatus::Ok ? ok : i.status == CheckStatus::Warn ? warn : fail) += 1;
  }
  out += fmt::format("\npreflight {}: {} ok, {} warning{}, {} failed\n", fail == 0 ? "passed" : "FAILED", ok, warn,
                     warn == 1 ? "" : "s", fail);
  return out;
}

std::string render_check_json(const CheckReport& report) {
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& i : report) {
    checks.push_back({{"scope", i.scope},
                      {"name", i.name},
                      {"status", i.status == CheckStatus::Ok     ? "ok"
                                 : i.status == CheckStatus::Warn ? "warn"
                                                                 : "fail"},
                      {"detail", i.detail}});
  }
  nlohmann::json doc = {{"ok", all_passed(report)}, {"checks", checks}};
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

ExitCode check_command(const config::PipelineConfig& cfg, bool json, std::int64_t sample) {
  auto report = run_preflight(cfg);
  auto state = check_pipeline_state(cfg);
  report.insert(report.end(), state.begin(), state.end());
  std::optional<std::vector<TableSample>> samples;
  if (sample > 0) {
    auto sampled = sample_mappings(cfg, sample);
    if (!sampled) {
      report.push_back({"source", "sample", CheckStatus::Fail, sampled.error().message});
    } else {
      samples = std::move(*sampled);
    }
  }
  std::string text;
  if (!json) {
    text = render_check_text(report);
    if (samples) text += render_samples_text(*samples);
  } else {
    auto doc = nlohmann::json::parse(render_check_json(report));
    if (samples) {
      auto list = nlohmann::json::array();
      for (const auto& s : *samples) {
        auto rules = nlohmann::json::array();
        for (const auto& r : s.refused) {
          rules.push_back({{"column", r.column}, {"rule", r.rule}, {"rows", r.rows}, {"examples", r.examples}});
        }
        list.push_back({{"table", s.table},
                        {"rows", s.rows},
                        {"accepted", s.accepted},
                        {"refused", s.rows - s.accepted},
                        {"rules", rules},
                        {"error", s.error}});
      }
      doc["sample"] = list;
    }
    text = doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  return all_passed(report) ? ExitCode::Ok : ExitCode::Failure;
}

}  // namespace crmsync::daemon
