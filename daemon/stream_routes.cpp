#include "daemon/stream_routes.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <set>

#include "daemon/copy_setup.hpp"
#include "daemon/schema_changes.hpp"
#include "pq/catalog.hpp"
#include "sink/postgres/compaction.hpp"
#include "sink/postgres/statements.hpp"

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

}  // namespace

bool RelationCache::source_ok() const {
  auto res = source_.exec("SELECT 1");
  return res.ok();
}

const CachedRelation* RelationCache::find(Oid oid) const {
  const auto it = relations_.find(oid);
  return it == relations_.end() ? nullptr : &it->second;
}

Status RelationCache::unknown_relation(const Relation& rel, Lsn at) {
  const config::TableName in_message{rel.schema, rel.name};
  if (const auto* copied = tables_.by_name(in_message); copied != nullptr) {
    return schema_stop(fmt::format(
        "at {}: changes arrive for source table {} as relation {}, but crmsync copied relation {} under that name: "
        "the table was dropped and created again, or another table was renamed to it. Its rows were never copied; "
        "crmsync will not mix them in. Restore the original table under this name, or start this pipeline over",
        at, in_message.qualified(), rel.oid.value(), copied->oid.value()));
  }
  // Only published tables reach the stream, and the publication holds source.tables: a relation
  // crmsync never copied was added to the publication by hand. Ignoring its changes would lose
  // them for good.
  return schema_stop(fmt::format(
      "at {}: changes arrive for source table {} (relation {}), which is not in source.tables; crmsync will not "
      "drop them. If it was added to publication \"{}\" by hand, remove it there (ALTER PUBLICATION ... DROP TABLE); "
      "adding a table to a running pipeline is not supported yet",
      at, in_message.qualified(), rel.oid.value(), cfg_.source.publication));
}

Status RelationCache::map_route(CachedRelation& entry, const config::Mapping& mapping, const TableInfo& target,
                                sink::postgres::Applier& applier, Lsn at) {
  if (!encoding_) {
    auto conn = applier.synchronous();
    if (!conn) return conn.take_error();
    auto res = (*conn)->exec("SHOW client_encoding");
    if (!res) return res.take_error();
    encoding_ = mapping::encoding_of(res->get(0, 0));
  }
  std::vector<std::string> names;
  names.reserve(entry.relation.columns.size());
  for (const auto& c : entry.relation.columns) names.push_back(c.name);
  auto mapper = mapping::RowMapper::compile(&mapping, names, *encoding_);
  if (!mapper) {
    return schema_stop(fmt::format("at {}: the mapping of {} no longer fits the source table: {}", at,
                                   entry.source.qualified(), mapper.error().message));
  }
  if (!mapper->changes_values() && mapping.key.empty()) return {};
  const auto& by_source = entry.route;
  sink::postgres::Route mapped;
  mapped.id = by_source.id;
  mapped.schema = by_source.schema;
  mapped.table = by_source.table;
  mapped.full_identity = by_source.full_identity;
  mapped.columns = mapper->target_columns();
  mapped.compare_as_text.assign(mapped.columns.size(), false);
  std::vector<bool> carried(mapped.columns.size(), false);
  for (std::size_t i = 0; i < by_source.columns.size(); ++i) {
    const auto to = mapper->carried_to(i);
    if (!to) continue;
    carried[*to] = true;
    mapped.columns[*to] = by_source.columns[i];  // "" when the target cannot take it (follow_schema)
    mapped.compare_as_text[*to] = by_source.compare_as_text[i];
  }
  for (std::size_t t = 0; t < mapped.columns.size(); ++t) {
    if (carried[t]) continue;
    const auto* column = target.column(mapped.columns[t]);
    if (column == nullptr || column->generated) {
      return schema_stop(fmt::format(
          "at {}: target table {} has no writable column \"{}\", which the mapping of {} "
          "writes",
          at, pq::quote_qualified(target.schema, target.name), mapped.columns[t], entry.source.qualified()));
    }
  }
  if (!mapping.key.empty()) {
    // The mapping names the target key (consolidation): rows are found by it, whatever the
    // source's replica identity, so ids that collide across legacy systems never meet.
    mapped.full_identity = false;
    mapped.owned = owned_predicate(&mapping);
    for (const auto& name : mapping.key) {
      const auto it = std::find(mapper->target_columns().begin(), mapper->target_columns().end(), name);
      const auto t = static_cast<std::size_t>(it - mapper->target_columns().begin());
      if (it == mapper->target_columns().end() || mapped.columns[t].empty()) {
        return schema_stop(
            fmt::format("at {}: key column \"{}\" of the mapping of {} is not a column the mapping "
                        "writes to {}; list target columns in key",
                        at, name, entry.source.qualified(), pq::quote_qualified(target.schema, target.name)));
      }
      // Each key column must be known for every change: a constant, or carried one to one from a
      // column the source's replica identity sends in old rows (all of them under FULL).
      const auto added = mapping.add.find(name);
      bool known = added != mapping.add.end() && added->second.kind == config::AddedKind::Constant;
      for (std::size_t i = 0; !known && i < entry.relation.columns.size(); ++i) {
        known = mapper->carried_to(i) == t && (entry.relation.columns[i].key || by_source.full_identity);
      }
      if (!known) {
        return schema_stop(fmt::format(
            "at {}: key column \"{}\" of the mapping of {} is neither a constant nor carried from a column of the "
            "source's replica identity: an UPDATE that changes it, or a DELETE (whose old row carries only the "
            "identity), could not find its row. Key the target by identity columns and constants, or set REPLICA "
            "IDENTITY FULL on the source table",
            at, name, entry.source.qualified()));
      }
      mapped.key.push_back(t);
    }
  }
  for (const auto k : mapping.key.empty() ? by_source.key : std::vector<std::size_t>{}) {
    const auto to = mapper->carried_to(k);
    // REPLICA IDENTITY FULL locates a row by every old column: those carried one to one suffice.
    if (by_source.full_identity && (!to || mapped.columns[*to].empty())) continue;
    if (!to || mapped.columns[*to].empty()) {
      return schema_stop(fmt::format(
          "at {}: key column {} of {} is split, excluded or not written by its mapping: updates and deletes could not "
          "find their rows on the target. Map it to a target column one to one",
          at, entry.relation.columns[k].name, entry.source.qualified()));
    }
    mapped.key.push_back(*to);
  }
  entry.route = std::move(mapped);
  entry.mapper = std::make_shared<const mapping::RowMapper>(std::move(mapper).value());
  entry.on_invalid = mapping.on_invalid;
  return {};
}

Status RelationCache::update(const Relation& rel, sink::postgres::Applier& applier, Lsn at) {
  auto* known = tables_.by_oid(rel.oid);
  if (known == nullptr) return unknown_relation(rel, at);
  const config::TableName in_message{rel.schema, rel.name};
  if (!known->known_as(in_message.qualified())) {
    // Like native logical replication, stop at a rename rather than guess; routing by relation
    // means the changes are neither lost nor sent to the wrong table meanwhile.
    const auto* mapping = cfg_.mapping_for(known->name);
    const auto target = mapping != nullptr ? mapping->to : known->name;
    return schema_stop(fmt::format(
        "at {}: source table {} (relation {}) was renamed to {} (ALTER TABLE ... RENAME or SET SCHEMA). In the "
        "config, replace {} with {} in source.tables and map it to its target table (mappings: - from: {} to: {}, "
        "keeping any columns and exclude of the old mapping), then start crmsync again: it resumes with this change",
        at, known->name.qualified(), rel.oid.value(), in_message.qualified(), known->name.qualified(),
        in_message.qualified(), in_message.qualified(), target.qualified()));
  }
  CachedRelation entry;
  entry.relation = rel;
  entry.source = known->name;
  entry.copied_as = known->former_names.empty() ? known->name.qualified() : known->former_names.front();
  entry.replicated = true;
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
  for (std::size_t i = 0; i < rel.columns.size(); ++i) {
    const auto& col = rel.columns[i];
    std::string dest = col.name;
    if (mapping != nullptr) {
      const auto& ex = mapping->exclude;
      if (std::find(ex.begin(), ex.end(), col.name) != ex.end()) {
        dest.clear();
      } else if (auto m = mapping->columns.find(col.name); m != mapping->columns.end()) {
        dest = m->second.split ? std::string() : m->second.to;  // a split writes the mapper's columns
      }
    }
    route.columns.push_back(dest);
    route.compare_as_text.push_back(needs_text_compare(col.type));
    if (col.key) route.key.push_back(i);
  }
  SchemaChange change{.source = source_,
                      .applier = applier,
                      .at = at,
                      .known = *known,
                      .relation = rel,
                      .target = **target,
                      .identity_mapping = mapping == nullptr};
  if (auto ok = follow_schema(change, route); !ok) return ok;
  if (auto ok = tables_.save(store_); !ok) return ok;
  if (mapping != nullptr) {
    if (auto ok = map_route(entry, *mapping, **target, applier, at); !ok) return ok;
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
  route.shape = sink::postgres::intern_shape(route);
  if (const auto old = relations_.find(rel.oid); old != relations_.end() && old->second.route.shape != route.shape) {
    if (auto ok = applier.forget_shape(old->second.route.shape); !ok) return ok;
  }
  relations_[rel.oid] = std::move(entry);
  return {};
}

}  // namespace crmsync::daemon
