#include "daemon/schema_changes.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace crmsync::daemon {
namespace {

Error schema_stop(std::string message) {
  return Error{ErrorCode::StateMismatch, std::move(message)};
}

Result<std::string> source_type_name(pq::Connection& source, const RelationColumn& c) {
  auto res = source.exec_params("SELECT format_type($1::oid, $2::int)",
                                {std::to_string(c.type.value()), std::to_string(c.type_modifier)});
  if (!res) return res.take_error();
  return std::string(res->get(0, 0));
}

const LayoutColumn* find(const std::vector<LayoutColumn>& columns, const std::string& name) {
  const auto it = std::find_if(columns.begin(), columns.end(), [&](const LayoutColumn& c) { return c.name == name; });
  return it == columns.end() ? nullptr : &*it;
}

bool sent(const Relation& rel, const std::string& name) {
  return std::any_of(rel.columns.begin(), rel.columns.end(), [&](const RelationColumn& c) { return c.name == name; });
}

// What the source's existing rows hold in a column added with a non-volatile default (PostgreSQL
// keeps it as the column's "missing value" instead of rewriting the table), as a DEFAULT clause
// for the target's ADD COLUMN; "" when the rows hold NULL or it cannot be read.
std::string existing_rows_default(const SchemaChange& c, const std::string& column, const std::string& type) {
  auto res = c.source.exec_params(
      "SELECT atthasmissing, (attmissingval::text::text[])[1], atthasdef FROM pg_attribute WHERE attrelid = $1::oid "
      "AND attname = $2",
      {std::to_string(c.relation.oid.value()), column});
  if (!res || res->rows() == 0) {
    spdlog::warn(
        "stream: cannot read the default of the new source column {}.{} ({}); existing target rows get "
        "NULL in it: run crmsync verify",
        c.known.name.qualified(), column, res ? "not found" : res.error().message);
    return {};
  }
  if (res->get(0, 0) == "t" && !res->is_null(0, 1)) {
    return fmt::format(" DEFAULT {}::{}", pq::quote_literal(std::string(res->get(0, 1))), type);
  }
  if (res->get(0, 2) == "t" && res->get(0, 0) != "t") {
    // A volatile default rewrote the source table: each existing row got its own value, and no
    // change for it reaches the stream.
    spdlog::warn(
        "stream: at {} the source added {}.{} with a volatile default, which gave each existing row its own "
        "value without a change in the stream; existing target rows get NULL in it: run crmsync verify",
        c.at, c.known.name.qualified(), column);
  }
  return {};
}

Status add_column(const SchemaChange& c, const std::string& column, const std::string& dest, const std::string& type) {
  const auto ddl = fmt::format("ALTER TABLE {} ADD COLUMN {} {}{}", pq::quote_qualified(c.target.schema, c.target.name),
                               pq::quote_ident(dest), type, existing_rows_default(c, column, type));
  spdlog::info("stream: at {} the source added column {}.{}; running on the target: {}", c.at, c.known.name.qualified(),
               column, ddl);
  return c.applier.execute(ddl);
}

// A source column the target table lacks: added (identity mapping) or not written (a mapping).
Status bring_column(const SchemaChange& c, sink::postgres::Route& route, std::size_t i, const std::string& type) {
  const auto& column = c.relation.columns.at(i).name;
  auto& dest = route.columns.at(i);
  if (c.identity_mapping) return add_column(c, column, dest, type);
  spdlog::warn("stream: source column {}.{} has no target column \"{}\" in {}; it is not written",
               c.known.name.qualified(), column, dest, pq::quote_qualified(c.target.schema, c.target.name));
  dest.clear();
  return {};
}

}  // namespace

Status follow_schema(const SchemaChange& c, sink::postgres::Route& route) {
  auto now = read_layout(c.source, c.relation.oid);
  if (!now) return now.take_error();
  const auto table = c.known.name.qualified();
  const auto target = pq::quote_qualified(c.target.schema, c.target.name);
  std::vector<LayoutColumn> layout;
  for (std::size_t i = 0; i < c.relation.columns.size(); ++i) {
    const auto& col = c.relation.columns[i];
    auto type = source_type_name(c.source, col);
    if (!type) return type.take_error();
    const auto* in_catalog = find(*now, col.name);
    const auto* before = c.known.column(col.name);
    // A message older than a later rename names the column as it was: keep its attnum.
    const int attnum = in_catalog != nullptr ? in_catalog->attnum : before != nullptr ? before->attnum : 0;
    layout.push_back(LayoutColumn{col.name, *type, attnum});
    const auto& dest = route.columns.at(i);
    if (dest.empty()) continue;  // excluded
    const auto* have = c.target.column(dest);
    if (before == nullptr) {
      // New under this name: a renamed column keeps its attnum.
      const LayoutColumn* renamed = nullptr;
      for (const auto& old : c.known.columns) {
        if (in_catalog != nullptr && old.attnum == in_catalog->attnum && !sent(c.relation, old.name)) renamed = &old;
      }
      if (renamed != nullptr) {
        if (have != nullptr) {
          spdlog::info("stream: at {} source column {}.{} was renamed to {}; target column {} takes it", c.at, table,
                       renamed->name, col.name, dest);
          continue;
        }
        return schema_stop(fmt::format(
            "at {}: source column {}.{} was renamed to {}; crmsync will not add a second column beside the first. "
            "Rename it on the target too (ALTER TABLE {} RENAME COLUMN {} TO {}), or keep the target's name with a "
            "mapping (columns: {{{}: {}}}); then start crmsync again",
            c.at, table, renamed->name, col.name, target, pq::quote_ident(renamed->name), pq::quote_ident(col.name),
            col.name, renamed->name));
      }
      if (have != nullptr) continue;  // already there (a resumed copy brought it, or the new CRM has it)
      if (auto ok = bring_column(c, route, i, *type); !ok) return ok;
      continue;
    }
    if (before->type != *type && (have == nullptr || have->type != *type)) {
      if (!c.identity_mapping) {
        spdlog::warn(
            "stream: at {} source column {}.{} changed type from {} to {}; the mapping writes it to {} as it is", c.at,
            table, col.name, before->type, *type, dest);
      } else {
        return schema_stop(fmt::format(
            "at {}: source column {}.{} changed type from {} to {}; crmsync will not convert silently. Run on the "
            "target: ALTER TABLE {} ALTER COLUMN {} TYPE {}; then start crmsync again",
            c.at, table, col.name, before->type, *type, target, pq::quote_ident(dest), *type));
      }
    }
    if (have == nullptr) {
      if (auto ok = bring_column(c, route, i, *type); !ok) return ok;
    }
  }
  for (const auto& old : c.known.columns) {
    if (sent(c.relation, old.name)) continue;
    const bool renamed = std::any_of(layout.begin(), layout.end(),
                                     [&](const LayoutColumn& n) { return n.attnum != 0 && n.attnum == old.attnum; });
    // Still on the source: this message is older than the column (a stream replaying from before
    // an ADD COLUMN that a resumed copy already brought over); its rows do not carry it.
    if (renamed || find(*now, old.name) != nullptr) continue;
    spdlog::warn(
        "stream: at {} the source dropped column {}.{}; the target keeps the column and its values, and new "
        "rows get its default (give it one, or make it nullable, if it is NOT NULL)",
        c.at, table, old.name);
  }
  c.known.columns = std::move(layout);
  return {};
}

}  // namespace crmsync::daemon
