#include "daemon/source_tables.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include <nlohmann/json.hpp>

namespace crmsync::daemon {
namespace {

using json = nlohmann::json;
constexpr const char* kMetaKey = "source_tables";

Error corrupt(const std::string& what) {
  return Error{ErrorCode::Io, fmt::format("checkpoint: the source table record is malformed ({})", what)};
}

Result<std::optional<Oid>> current_oid(pq::Connection& source, const config::TableName& name) {
  auto res = source.exec_params("SELECT to_regclass($1)::oid", {pq::quote_qualified(name.schema, name.table)});
  if (!res) return res.take_error();
  if (res->is_null(0, 0)) return std::optional<Oid>{};
  return std::optional<Oid>{Oid{static_cast<std::uint32_t>(std::stoul(std::string(res->get(0, 0))))}};
}

Result<std::string> current_name(pq::Connection& source, Oid oid) {
  auto res = source.exec_params(
      "SELECT format('%s.%s', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE c.oid = $1::oid",
      {std::to_string(oid.value())});
  if (!res) return res.take_error();
  return res->rows() == 0 ? std::string("(dropped)") : std::string(res->get(0, 0));
}

}  // namespace

const LayoutColumn* SourceTable::column(const std::string& column_name) const {
  for (const auto& c : columns) {
    if (c.name == column_name) return &c;
  }
  return nullptr;
}

bool SourceTable::known_as(const std::string& qualified) const {
  return qualified == name.qualified() ||
         std::find(former_names.begin(), former_names.end(), qualified) != former_names.end();
}

Result<SourceTables> SourceTables::load(const checkpoint::Store& store) {
  auto text = store.get_meta(kMetaKey);
  if (!text) return text.take_error();
  SourceTables out;
  if (!text->has_value()) return out;
  try {
    const auto doc = json::parse(**text);
    for (const auto& t : doc.at("tables")) {
      SourceTable table;
      table.oid = Oid{t.at("oid").get<std::uint32_t>()};
      table.name = config::TableName{t.at("schema").get<std::string>(), t.at("table").get<std::string>()};
      table.former_names = t.at("former_names").get<std::vector<std::string>>();
      for (const auto& c : t.at("columns")) {
        table.columns.push_back(
            LayoutColumn{c.at("name").get<std::string>(), c.at("type").get<std::string>(), c.at("attnum").get<int>()});
      }
      out.put(std::move(table));
    }
  } catch (const json::exception& e) {
    return corrupt(e.what());
  }
  return out;
}

Status SourceTables::save(checkpoint::Store& store) const {
  json tables = json::array();
  for (const auto& [oid, t] : tables_) {
    json columns = json::array();
    for (const auto& c : t.columns) columns.push_back({{"name", c.name}, {"type", c.type}, {"attnum", c.attnum}});
    tables.push_back({{"oid", oid.value()},
                      {"schema", t.name.schema},
                      {"table", t.name.table},
                      {"former_names", t.former_names},
                      {"columns", columns}});
  }
  return store.put_meta(kMetaKey, json{{"tables", tables}}.dump());
}

const SourceTable* SourceTables::by_oid(Oid oid) const {
  const auto it = tables_.find(oid);
  return it == tables_.end() ? nullptr : &it->second;
}

SourceTable* SourceTables::by_oid(Oid oid) {
  const auto it = tables_.find(oid);
  return it == tables_.end() ? nullptr : &it->second;
}

const SourceTable* SourceTables::by_name(const config::TableName& name) const {
  for (const auto& [oid, t] : tables_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

Result<std::vector<LayoutColumn>> read_layout(pq::Connection& source, Oid oid) {
  auto res = source.exec_params(
      "SELECT attname, format_type(atttypid, atttypmod), attnum FROM pg_attribute WHERE attrelid = $1::oid AND "
      "attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
      {std::to_string(oid.value())});
  if (!res) return res.take_error();
  std::vector<LayoutColumn> out;
  out.reserve(static_cast<std::size_t>(res->rows()));
  for (int i = 0; i < res->rows(); ++i) {
    out.push_back(
        LayoutColumn{std::string(res->get(i, 0)), std::string(res->get(i, 1)), std::stoi(std::string(res->get(i, 2)))});
  }
  return out;
}

Result<bool> follow_config(const config::PipelineConfig& cfg, pq::Connection& source, SourceTables& recorded) {
  const bool first = recorded.empty();
  if (first) spdlog::debug("recording the relations of source.tables in the checkpoint");
  bool changed = first;
  for (const auto& name : cfg.source.tables) {
    auto oid = current_oid(source, name);
    if (!oid) return oid.take_error();
    const auto* under_name = recorded.by_name(name);
    if (!*oid) {
      if (under_name == nullptr) continue;  // describing the tables reports a missing one
      auto now = current_name(source, under_name->oid);
      if (!now) return now.take_error();
      if (*now == "(dropped)") continue;
      return Error{
          ErrorCode::StateMismatch,
          fmt::format("source table {} (relation {}) was renamed to {}. In the config, replace {} with {} in "
                      "source.tables and map it to its target table (mappings: - from: {} to: <the target "
                      "table of {}>), then start crmsync again",
                      name.qualified(), under_name->oid.value(), *now, name.qualified(), *now, *now, name.qualified())};
    }
    if (auto* same = recorded.by_oid(**oid); same != nullptr) {
      if (same->name == name) continue;
      if (under_name != nullptr) {
        // Two configured names swapped between relations: too ambiguous to follow.
        return Error{ErrorCode::StateMismatch,
                     fmt::format("source.tables names {} and {}, but the relations copied under those names were "
                                 "renamed into each other; restore the names on the source",
                                 name.qualified(), same->name.qualified())};
      }
      spdlog::info("source table {} is {} renamed (relation {}); following the rename as the config does",
                   name.qualified(), same->name.qualified(), oid->value().value());
      same->former_names.push_back(same->name.qualified());
      same->name = name;
      changed = true;
      continue;
    }
    if (under_name != nullptr) {
      auto now = current_name(source, under_name->oid);
      if (!now) return now.take_error();
      return Error{ErrorCode::StateMismatch,
                   fmt::format("source table {} is relation {}, but crmsync copied relation {} under that name (now "
                               "{}): the table was dropped and created again, or another table was renamed to it. "
                               "Its rows were never copied and its changes are not the old table's. Restore the "
                               "original table under this name, or start this pipeline over",
                               name.qualified(), oid->value().value(), under_name->oid.value(), *now)};
    }
    if (!first) {
      return Error{ErrorCode::StateMismatch,
                   fmt::format("source table {} was added to source.tables after this pipeline copied its tables; "
                               "adding a table to a running pipeline is not supported yet (it would be neither copied "
                               "nor published). Remove it from source.tables, and migrate it with a pipeline of its "
                               "own (another name, slot and publication)",
                               name.qualified())};
    }
    auto layout = read_layout(source, **oid);
    if (!layout) return layout.take_error();
    recorded.put(SourceTable{**oid, name, {}, std::move(layout).value()});
  }
  return changed;
}

Result<SourceTables> reconcile_source_tables(const config::PipelineConfig& cfg, pq::Connection& source,
                                             checkpoint::Store& store) {
  auto recorded = SourceTables::load(store);
  if (!recorded) return recorded.take_error();
  auto changed = follow_config(cfg, source, *recorded);
  if (!changed) return changed.take_error();
  if (*changed) {
    if (auto ok = recorded->save(store); !ok) return ok.take_error();
  }
  return std::move(recorded).value();
}

}  // namespace crmsync::daemon
