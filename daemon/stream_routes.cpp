#include "daemon/stream_routes.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <set>

#include "pq/catalog.hpp"
#include "sink/postgres/compaction.hpp"

namespace crmsync::daemon {
namespace {

// Types with no default equality operator: REPLICA IDENTITY FULL compares their text forms.
bool needs_text_compare(Oid type) {
  static const std::set<std::uint32_t> kTypes = {
      114 /*json*/,    142 /*xml*/,  600 /*point*/,  601 /*lseg*/,   602 /*path*/, 603 /*box*/,
      604 /*polygon*/, 628 /*line*/, 718 /*circle*/, 199 /*json[]*/, 143 /*xml[]*/};
  return kTypes.contains(type.value());
}

Error schema_stop(std::string message) {
  return Error{ErrorCode::StateMismatch, std::move(message)};
}

Result<std::string> source_type_name(pq::Connection& source, const RelationColumn& c) {
  auto res = source.exec_params("SELECT format_type($1::oid, $2::int)",
                                {std::to_string(c.type.value()), std::to_string(c.type_modifier)});
  if (!res) return res.take_error();
  return std::string(res->get(0, 0));
}

}  // namespace

bool RelationCache::source_ok() const {
  auto res = source_.exec("SELECT 1");
  return res.ok();
}

const CachedRelation* RelationCache::find(Oid oid) const {
  const auto it = relations_.find(oid);
  return it == relations_.end() ? nullptr : &it->second;
}

Status RelationCache::update(const Relation& rel, sink::postgres::Applier& applier, Lsn at) {
  CachedRelation entry;
  entry.relation = rel;
  entry.source = config::TableName{rel.schema, rel.name};
  const auto& tables = cfg_.source.tables;
  entry.replicated = std::find(tables.begin(), tables.end(), entry.source) != tables.end();
  if (!entry.replicated) {
    // Only published tables reach the stream, and the publication holds source.tables: a name
    // outside them is one of ours renamed or moved (ALTER TABLE ... RENAME / SET SCHEMA), or a
    // table added to the publication by hand. Ignoring its changes would lose them for good.
    std::string gone;
    for (const auto& t : tables) {
      auto res = source_.exec_params("SELECT to_regclass($1) IS NULL", {pq::quote_qualified(t.schema, t.table)});
      if (res && res->get(0, 0) == "t") gone += (gone.empty() ? "" : ", ") + t.qualified();
    }
    return schema_stop(fmt::format(
        "at {}: changes arrive for source table {} (relation {}), which is not in source.tables{}; crmsync will not "
        "drop them. If a table was renamed or moved: name it {} in source.tables and map it to its target table "
        "(mappings: - from: {} to: <the target table>), then start crmsync again. If it was added to publication "
        "\"{}\" by hand, remove it there (ALTER PUBLICATION ... DROP TABLE) or add it to source.tables",
        at, entry.source.qualified(), rel.oid.value(),
        gone.empty() ? std::string() : fmt::format(" (configured but no longer found on the source: {})", gone),
        entry.source.qualified(), entry.source.qualified(), cfg_.source.publication));
  }
  const auto* mapping = cfg_.mapping_for(entry.source);
  const auto target_name = mapping != nullptr ? mapping->to : entry.source;
  auto conn = applier.synchronous();
  if (!conn) return conn.take_error();
  auto target = pq::read_table(**conn, target_name.schema, target_name.table);
  if (!target) return target.take_error();
  if (!target->has_value()) {
    return schema_stop(fmt::format("at {}: target table {} does not exist", at, target_name.qualified()));
  }
  auto& route = entry.route;
  static std::atomic<std::uint64_t> next_route_id{0};
  route.id = ++next_route_id;
  route.schema = target_name.schema;
  route.table = target_name.table;
  route.full_identity = rel.replica_identity == RelReplIdent::Full;
  const auto qualified = pq::quote_qualified(target_name.schema, target_name.table);
  for (std::size_t i = 0; i < rel.columns.size(); ++i) {
    const auto& col = rel.columns[i];
    std::string dest = col.name;
    if (mapping != nullptr) {
      const auto& ex = mapping->exclude;
      if (std::find(ex.begin(), ex.end(), col.name) != ex.end()) {
        dest.clear();
      } else if (auto m = mapping->columns.find(col.name); m != mapping->columns.end()) {
        dest = m->second.to;
      }
    }
    route.columns.push_back(dest);
    route.compare_as_text.push_back(needs_text_compare(col.type));
    if (col.key) route.key.push_back(i);
    if (dest.empty()) continue;
    auto type = source_type_name(source_, col);
    if (!type) return type.take_error();
    const auto* have = (*target)->column(dest);
    if (have == nullptr) {
      if (mapping != nullptr) {
        spdlog::warn("stream: source column {}.{} has no target column \"{}\" in {}; it is not written",
                     entry.source.qualified(), col.name, dest, target_name.qualified());
        route.columns.back().clear();
        continue;
      }
      // Identity mapping: a column new on the source is added to the target before its first row.
      const auto ddl = fmt::format("ALTER TABLE {} ADD COLUMN {} {}", qualified, pq::quote_ident(dest), *type);
      spdlog::info("stream: at {} the source added column {}.{}; running on the target: {}", at,
                   entry.source.qualified(), col.name, ddl);
      if (auto ok = applier.execute(ddl); !ok) return ok;
      continue;
    }
    if (mapping == nullptr && have->type != *type) {
      return schema_stop(fmt::format(
          "at {}: source column {}.{} is now {} but the target column is {}; crmsync will not convert silently. "
          "Run on the target: ALTER TABLE {} ALTER COLUMN {} TYPE {}; then start crmsync again",
          at, entry.source.qualified(), col.name, *type, have->type, qualified, pq::quote_ident(dest), *type));
    }
  }
  if (mapping == nullptr) {
    // A target column the source no longer sends, and no longer has, was dropped on the source
    // (generated columns are never sent).
    auto source_info = pq::read_table(source_, rel.schema, rel.name);
    if (!source_info) return source_info.take_error();
    for (const auto& have : (*target)->columns) {
      const bool sent = std::any_of(rel.columns.begin(), rel.columns.end(),
                                    [&](const RelationColumn& c) { return c.name == have.name; });
      if (sent || have.generated) continue;
      const auto* still = source_info->has_value() ? (*source_info)->column(have.name) : nullptr;
      // Still on the source now: this Relation message is older than the column (a stream that
      // replays from before an ADD COLUMN which a resumed copy already brought to the target). Its
      // rows simply do not carry it; a later Relation message will.
      if (still != nullptr) continue;
      return schema_stop(fmt::format(
          "at {}: column {}.{} no longer exists on the source but the target still has it; crmsync will not drop "
          "data silently. Run on the target: ALTER TABLE {} DROP COLUMN {} (or keep it by making it nullable and "
          "adding it to a mapping's exclude list); then start crmsync again",
          at, entry.source.qualified(), have.name, qualified, pq::quote_ident(have.name)));
    }
  }
  if (cfg_.apply.compact) {
    auto plain = applier.synchronous();  // ADD COLUMN above may have re-entered pipeline mode
    if (!plain) return plain.take_error();
    auto why_not = sink::postgres::prepare_compaction(**plain, route);
    if (!why_not) return why_not.take_error();
    if (why_not->empty()) {
      spdlog::debug("stream: changes to {} are compacted per key within a batch", target_name.qualified());
    } else {
      spdlog::info("stream: changes to {} keep the source's order, one statement each: {}", target_name.qualified(),
                   *why_not);
    }
  }
  relations_[rel.oid] = std::move(entry);
  return {};
}

}  // namespace crmsync::daemon
