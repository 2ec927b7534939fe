#include "daemon/copy_setup.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "pq/catalog.hpp"
#include "sink/postgres/copy_sink.hpp"

namespace crmsync::daemon {
namespace {

Error setup_error(std::string message) {
  return Error{ErrorCode::StateMismatch, std::move(message)};
}

checkpoint::ChunkKind to_store(cdc::ChunkingKind k) {
  switch (k) {
    case cdc::ChunkingKind::KeyRange: return checkpoint::ChunkKind::KeyRange;
    case cdc::ChunkingKind::CtidRange: return checkpoint::ChunkKind::CtidRange;
    case cdc::ChunkingKind::Whole: return checkpoint::ChunkKind::Whole;
  }
  return checkpoint::ChunkKind::Whole;
}

// Target table info, creating the table first when allowed.
Result<TableInfo> target_table(const config::PipelineConfig& cfg, pq::Connection& target, const CopyTable& t) {
  const auto& name = t.plan.target;
  auto info = pq::read_table(target, name.schema, name.table);
  if (!info) {
    return info.take_error();
  }
  if (info->has_value()) {
    return std::move(**info);
  }
  const bool identity = cfg.mapping_for(t.source) == nullptr;
  if (!cfg.target.create_tables || !identity) {
    return setup_error(
        fmt::format("target table {} does not exist: create it, or set target.create_tables: true "
                    "(identity mappings only)",
                    name.qualified()));
  }
  auto created = sink::postgres::create_table(target, t.source_info);
  if (!created) {
    return Error{created.error().code,
                 fmt::format("creating target table {}: {}", name.qualified(), created.error().message)};
  }
  spdlog::info("created target table {} ({} columns)", name.qualified(), t.source_info.columns.size());
  auto again = pq::read_table(target, name.schema, name.table);
  if (!again || !again->has_value()) {
    return setup_error(fmt::format("target table {} vanished right after it was created", name.qualified()));
  }
  return std::move(**again);
}

}  // namespace

std::string owned_predicate(const config::Mapping* mapping) {
  std::vector<std::string> parts;
  for (const auto& o : mapping::owned_rows(mapping)) {
    parts.push_back(fmt::format("{} = {}", pq::quote_ident(o.column), pq::quote_literal(o.value)));
  }
  return fmt::format("{}", fmt::join(parts, " AND "));
}

Result<std::vector<CopyTable>> describe_tables(const config::PipelineConfig& cfg, pq::Connection& source,
                                               pq::Connection& target, bool resuming) {
  std::vector<CopyTable> out;
  for (const auto& name : cfg.source.tables) {
    auto info = pq::read_table(source, name.schema, name.table);
    if (!info) {
      return info.take_error();
    }
    if (!info->has_value()) {
      return setup_error(fmt::format("source table {} does not exist (names are case-sensitive)", name.qualified()));
    }
    CopyTable t;
    t.source = name;
    t.source_info = std::move(**info);
    t.plan = mapping::plan_table(name, t.source_info, cfg.mapping_for(name));
    t.owned = owned_predicate(cfg.mapping_for(name));
    auto tgt = target_table(cfg, target, t);
    if (!tgt) {
      return tgt.take_error();
    }
    if (resuming && cfg.mapping_for(name) == nullptr) {
      // Identity mapping: a column the source gained since the copy started (the stream's rule
      // for a new column) is added to the target before the pending chunks copy it.
      bool added = false;
      for (const auto& pair : t.plan.columns) {
        if (tgt->column(pair.target) != nullptr) continue;
        // With the source's default (unless it draws from a sequence, which the target does not
        // have) and NOT NULL: a fast default gives the rows of the chunks already copied the value
        // the source gives them, which no change in the stream would bring.
        const auto* col = t.source_info.column(pair.source);
        const bool keep_default = !col->default_expr.empty() && col->default_expr.find("nextval(") == std::string::npos;
        const auto ddl = fmt::format(
            "ALTER TABLE {} ADD COLUMN {} {}{}{}", pq::quote_qualified(t.plan.target.schema, t.plan.target.table),
            pq::quote_ident(pair.target), col->type, keep_default ? " DEFAULT " + col->default_expr : std::string(),
            keep_default && col->not_null ? " NOT NULL" : "");
        spdlog::info("copy: the source added column {}.{} since the copy started; running on the target: {}",
                     name.qualified(), pair.source, ddl);
        if (auto ok = target.exec(ddl); !ok) return ok.take_error();
        added = true;
      }
      if (added) {
        auto again = pq::read_table(target, t.plan.target.schema, t.plan.target.table);
        if (!again) return again.take_error();
        if (!again->has_value()) return setup_error(fmt::format("target table {} vanished", t.plan.target.qualified()));
        tgt = std::move(**again);
      }
    }
    if (const auto* mapping = cfg.mapping_for(name); mapping != nullptr) {
      for (const auto& c : t.source_info.columns) {
        if (!c.generated) t.read_columns.push_back(c.name);
      }
      auto encoding = target.exec("SHOW client_encoding");
      if (!encoding) return encoding.take_error();
      auto mapper = mapping::RowMapper::compile(mapping, t.read_columns, mapping::encoding_of(encoding->get(0, 0)));
      if (!mapper) return setup_error(fmt::format("mapping of {}: {}", name.qualified(), mapper.error().message));
      if (mapper->changes_values()) {
        for (const auto& column : mapper->target_columns()) {
          const auto* d = tgt->column(column);
          if (d == nullptr || d->generated) {
            return setup_error(
                fmt::format("target table {} has no writable column \"{}\" (written by the mapping of {})",
                            t.plan.target.qualified(), column, name.qualified()));
          }
        }
        t.mapper = std::make_shared<const mapping::RowMapper>(std::move(mapper).value());
        t.on_invalid = mapping->on_invalid;
        out.push_back(std::move(t));
        continue;
      }
      t.read_columns.clear();
    }
    t.binary = true;
    for (const auto& pair : t.plan.columns) {
      const auto* s = t.source_info.column(pair.source);
      const auto* d = tgt->column(pair.target);
      if (d == nullptr || d->generated) {
        return setup_error(fmt::format("target table {} has no writable column \"{}\" (mapped from {}.{})",
                                       t.plan.target.qualified(), pair.target, name.qualified(), pair.source));
      }
      // Binary COPY needs identical types, and built-in ones: arrays of enums and composites
      // carry type OIDs that differ between clusters.
      t.binary = t.binary && s->type == d->type && s->builtin_type && d->builtin_type;
    }
    out.push_back(std::move(t));
  }
  return out;
}

Status prepare_empty_targets(const config::PipelineConfig& cfg, pq::Connection& target,
                             const std::vector<CopyTable>& tables) {
  for (const auto& t : tables) {
    const auto& name = t.plan.target;
    auto empty = sink::postgres::is_empty(target, name.schema, name.table, t.owned);
    if (!empty) {
      return empty.take_error();
    }
    if (*empty) continue;
    const auto rows = t.owned.empty() ? std::string() : " rows where " + t.owned;
    if (!cfg.snapshot.truncate_target) {
      return setup_error(
          fmt::format("target table {}{} is not empty: the initial copy needs empty tables; empty it, "
                      "or set snapshot.truncate_target: true to have crmsync truncate it",
                      name.qualified(), rows.empty() ? "" : " has" + rows + ", so it"));
    }
    auto truncated = sink::postgres::truncate(target, name.schema, name.table, t.owned);
    if (!truncated) {
      return truncated;
    }
    spdlog::warn("emptied target table {}{} (snapshot.truncate_target)", name.qualified(), rows);
  }
  return {};
}

Status plan_and_record(pq::Connection& snapshot_conn, const config::PipelineConfig& cfg, CopyTable& table,
                       checkpoint::Store& store) {
  auto plan = cdc::plan_chunks(snapshot_conn, table.source_info, cfg.snapshot.chunk_rows);
  if (!plan) {
    return plan.take_error();
  }
  table.chunking = plan->kind;
  table.key_column = plan->key_column;
  std::vector<checkpoint::ChunkRecord> records;
  for (std::size_t i = 0; i < plan->ranges.size(); ++i) {
    checkpoint::ChunkRecord r;
    r.table = table.source.qualified();
    r.index = static_cast<std::uint32_t>(i);
    r.kind = to_store(plan->kind);
    r.lower = plan->ranges[i].lower;
    r.upper = plan->ranges[i].upper;
    r.key_column = plan->key_column;
    records.push_back(r);
  }
  return store.plan_table(table.source.qualified(), records);
}

Result<bool> load_plan(CopyTable& table, const checkpoint::Store& store) {
  auto chunks = store.chunks(table.source.qualified());
  if (!chunks) {
    return chunks.take_error();
  }
  if (chunks->empty()) {
    return false;
  }
  switch (chunks->front().kind) {
    case checkpoint::ChunkKind::KeyRange: table.chunking = cdc::ChunkingKind::KeyRange; break;
    case checkpoint::ChunkKind::CtidRange: table.chunking = cdc::ChunkingKind::CtidRange; break;
    case checkpoint::ChunkKind::Whole: table.chunking = cdc::ChunkingKind::Whole; break;
  }
  table.key_column.clear();
  if (table.chunking == cdc::ChunkingKind::KeyRange) {
    // The column the plan was made on (older checkpoints did not record it: the primary key).
    table.key_column = chunks->front().key_column;
    for (const auto& c : table.source_info.columns) {
      if (table.key_column.empty() && c.primary_key) table.key_column = c.name;
    }
  }
  return true;
}

Result<std::vector<CopyTask>> pending_tasks(const std::vector<CopyTable>& tables, checkpoint::Store& store) {
  std::vector<CopyTask> tasks;
  for (const auto& t : tables) {
    auto chunks = store.chunks(t.source.qualified());
    if (!chunks) {
      return chunks.take_error();
    }
    for (const auto& c : *chunks) {
      if (c.state == checkpoint::ChunkState::Pending) {
        tasks.push_back(CopyTask{&t, c.index, cdc::ChunkRange{c.lower, c.upper}});
      }
    }
  }
  return tasks;
}

}  // namespace crmsync::daemon
