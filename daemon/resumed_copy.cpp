#include "daemon/resumed_copy.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>

#include "pq/catalog.hpp"

namespace crmsync::daemon {
namespace {

std::optional<std::size_t> column_index(const Relation& rel, const std::string& name) {
  for (std::size_t i = 0; i < rel.columns.size(); ++i) {
    if (rel.columns[i].name == name) return i;
  }
  return std::nullopt;
}

Error cannot_place(const ResumedChange& c, const std::string& why) {
  return Error{ErrorCode::StateMismatch,
               fmt::format("at {}: a change to {} (source transaction {}) cannot be reconciled with the resumed copy "
                           "of that table: {}. crmsync will not guess which copied chunk holds the row; restore the "
                           "table's replica identity and layout as they were during the copy, or copy the table "
                           "again",
                           c.commit, c.rel.source.qualified(), c.xid.value(), why)};
}

// The chunk column's value in `row`; for a table not chunked by key, no key at all.
Result<std::optional<std::int64_t>> chunk_key(const ResumedChange& c, const Row& row, bool key_tuple) {
  const auto* column = c.filter.key_column(c.rel.copied_as);
  if (column == nullptr) return std::optional<std::int64_t>{};
  const auto index = column_index(c.rel.relation, *column);
  if (!index) return cannot_place(c, fmt::format("the stream no longer sends its chunk column \"{}\"", *column));
  if (key_tuple && !c.rel.relation.columns[*index].key) {
    return cannot_place(c, fmt::format("its chunk column \"{}\" is no longer part of the replica identity", *column));
  }
  if (*index >= row.size() || row[*index].kind != ValueKind::Text) {
    return cannot_place(c, fmt::format("the change carries no value for the chunk column \"{}\"", *column));
  }
  const auto& text = row[*index].text;
  std::int64_t key = 0;
  if (std::from_chars(text.data(), text.data() + text.size(), key).ec != std::errc{}) {
    return cannot_place(c, fmt::format("chunk column \"{}\" holds \"{}\", not an integer", *column, text));
  }
  return std::optional<std::int64_t>{key};
}

// An UPDATE whose row moves into a chunk copied before it becomes an INSERT there; unchanged
// TOASTed values are not in the stream, so read them from the source (its current values: any
// later change to them follows in the stream). A row the source no longer has is deleted later in
// the stream, so leaving such a column to its default is temporary. Not FROM ONLY: a partitioned
// root published as one table keeps its rows in the partitions.
Status fill_unchanged(const ResumedChange& c, Row& row) {
  std::vector<std::size_t> missing;
  for (std::size_t i = 0; i < row.size() && i < c.rel.relation.columns.size(); ++i) {
    if (row[i].is_unchanged_toast()) missing.push_back(i);
  }
  if (missing.empty()) return {};
  const auto* column = c.filter.key_column(c.rel.copied_as);
  const auto index = column == nullptr ? std::nullopt : column_index(c.rel.relation, *column);
  if (!index) return cannot_place(c, "an unchanged TOASTed value cannot be read back without a chunk column");
  std::vector<std::string> select;
  select.reserve(missing.size());
  for (const auto i : missing) select.push_back(pq::quote_ident(c.rel.relation.columns[i].name));
  auto res = c.writes.source.exec_params(
      fmt::format("SELECT {} FROM {} WHERE {} = $1", fmt::join(select, ", "),
                  pq::quote_qualified(c.rel.source.schema, c.rel.source.table), pq::quote_ident(*column)),
      {row[*index].text});
  if (!res) return res.take_error();
  if (res->rows() == 0) {
    spdlog::warn(
        "stream: at {} a row of {} moved into a chunk copied before the move, and the source no longer has "
        "it; its unchanged TOASTed columns are left to their defaults until a later change",
        c.commit, c.rel.source.qualified());
    return {};
  }
  for (std::size_t k = 0; k < missing.size(); ++k) {
    row[missing[k]] =
        res->is_null(0, static_cast<int>(k)) ? Value{} : Value::of(std::string(res->get(0, static_cast<int>(k))));
  }
  return {};
}

}  // namespace

sink::postgres::OldKind to_sink(cdc::pgoutput::OldKind k) {
  switch (k) {
    case cdc::pgoutput::OldKind::Key: return sink::postgres::OldKind::Key;
    case cdc::pgoutput::OldKind::Full: return sink::postgres::OldKind::Full;
    case cdc::pgoutput::OldKind::None: return sink::postgres::OldKind::None;
  }
  return sink::postgres::OldKind::None;
}

Status apply_resumed(const ResumedChange& c, const cdc::pgoutput::Message& m) {
  const auto& table = c.rel.copied_as;
  const auto done = [&](const std::optional<std::int64_t>& key) {
    return c.filter.copied_after(table, key, c.xid, c.commit);
  };
  if (const auto* ins = std::get_if<cdc::pgoutput::Insert>(&m)) {
    auto key = chunk_key(c, ins->new_row, false);
    if (!key) return key.take_error();
    if (done(*key)) return {};
    return write_insert(c.rel, c.writes, ins->new_row);
  }
  if (const auto* up = std::get_if<cdc::pgoutput::Update>(&m)) {
    const bool has_old = up->old_kind != cdc::pgoutput::OldKind::None;
    const auto& old_row = has_old ? up->old_row : up->new_row;
    auto old_key = chunk_key(c, old_row, up->old_kind == cdc::pgoutput::OldKind::Key);
    if (!old_key) return old_key.take_error();
    auto new_key = chunk_key(c, up->new_row, false);
    if (!new_key) return new_key.take_error();
    const bool old_done = done(*old_key);
    const bool new_done = done(*new_key);
    if (old_done && new_done) return {};
    if (!old_done && !new_done) return write_update(c.rel, c.writes, to_sink(up->old_kind), up->old_row, up->new_row);
    if (old_done) {
      // The old key's chunk already holds the row's later state (gone from it); the new key's
      // chunk was copied before the row arrived there.
      Row row = up->new_row;
      if (auto ok = fill_unchanged(c, row); !ok) return ok;
      return write_insert(c.rel, c.writes, row);
    }
    // The new key's chunk already holds the row: only its old place must go.
    return write_remove(c.rel, c.writes, has_old ? to_sink(up->old_kind) : sink::postgres::OldKind::Key, old_row);
  }
  const auto& del = std::get<cdc::pgoutput::Delete>(m);
  auto key = chunk_key(c, del.old_row, del.old_kind == cdc::pgoutput::OldKind::Key);
  if (!key) return key.take_error();
  if (done(*key)) return {};
  return write_remove(c.rel, c.writes, to_sink(del.old_kind), del.old_row);
}

Result<std::string> target_chunk_column(const ChunkFilter& filter, const CachedRelation& rel) {
  const auto* column = filter.key_column(rel.copied_as);
  auto index = column == nullptr ? std::nullopt : column_index(rel.relation, *column);
  if (index && rel.mapper) index = rel.mapper->carried_to(*index);  // the route names mapped columns
  if (!index || *index >= rel.route.columns.size() || rel.route.columns[*index].empty()) {
    return Error{ErrorCode::StateMismatch,
                 fmt::format("a TRUNCATE of {} must empty part of the target table, but its chunk column {} is not "
                             "written to the target",
                             rel.source.qualified(), column == nullptr ? std::string("(none)") : *column)};
  }
  return rel.route.columns[*index];
}

}  // namespace crmsync::daemon
