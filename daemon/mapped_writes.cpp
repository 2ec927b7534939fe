#include "daemon/mapped_writes.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "pq/catalog.hpp"

namespace crmsync::daemon {
namespace {

using mapping::RowOp;

// "id = 7, region = 'EU'": the replica identity key of a source row, for messages.
std::string key_text(const CachedRelation& rel, const Row& row) {
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < rel.relation.columns.size() && i < row.size(); ++i) {
    if (!rel.relation.columns[i].key) continue;
    parts.push_back(
        fmt::format("{} = {}", rel.relation.columns[i].name, row[i].kind == ValueKind::Text ? row[i].text : "NULL"));
  }
  return parts.empty() ? std::string("no key") : fmt::format("{}", fmt::join(parts, ", "));
}

// The current source values of the columns `need` names, read by the row's key: a change does not
// carry an unchanged TOASTed value, and a target column computed from it and other values cannot
// be written from a part. Any later change to them follows in the stream. A row the source no
// longer has is deleted later in the stream: its columns are left NULL meanwhile.
Status fill(const CachedRelation& rel, const WriteContext& w, const std::vector<std::size_t>& need, Row& row) {
  std::vector<std::string> select;
  std::vector<std::string> where;
  std::vector<std::optional<std::string>> params;
  for (const auto i : need) select.push_back(pq::quote_ident(rel.relation.columns[i].name));
  for (std::size_t i = 0; i < rel.relation.columns.size(); ++i) {
    if (!rel.relation.columns[i].key) continue;
    if (row[i].kind != ValueKind::Text) {
      return Error{ErrorCode::StateMismatch,
                   fmt::format("at {}: a change to {} leaves a TOASTed value out that its mapping needs, and its key "
                               "column {} has no value to read it back by",
                               w.commit, rel.source.qualified(), rel.relation.columns[i].name)};
    }
    params.push_back(row[i].text);
    where.push_back(fmt::format("{} = ${}", pq::quote_ident(rel.relation.columns[i].name), params.size()));
  }
  if (where.empty()) {
    return Error{ErrorCode::StateMismatch,
                 fmt::format("at {}: a change to {} leaves a TOASTed value out that its mapping needs, and the table "
                             "has no key to read it back by",
                             w.commit, rel.source.qualified())};
  }
  auto res = w.source.exec_params(
      fmt::format("SELECT {} FROM {} WHERE {}", fmt::join(select, ", "),
                  pq::quote_qualified(rel.source.schema, rel.source.table), fmt::join(where, " AND ")),
      params);
  if (!res) return res.take_error();
  for (std::size_t k = 0; k < need.size(); ++k) {
    const int col = static_cast<int>(k);
    row[need[k]] = res->rows() == 0 || res->is_null(0, col) ? Value::null() : Value::of(std::string(res->get(0, col)));
  }
  if (res->rows() == 0) {
    spdlog::debug(
        "stream: at {} a row of {} is gone from the source; its unchanged TOASTed values are NULL until "
        "its DELETE arrives",
        w.commit, rel.source.qualified());
  }
  return {};
}

// The mapped row, or nothing when it is refused and skipped; an error when it stops the stream.
Result<std::optional<Row>> mapped(const CachedRelation& rel, const WriteContext& w, const Row& source, RowOp op) {
  auto out = rel.mapper->map(source, op);
  if (!out.need.empty()) {
    Row filled = source;
    if (auto ok = fill(rel, w, out.need, filled); !ok) return ok.take_error();
    out = rel.mapper->map(filled, op);
  }
  if (!out.rejected) return std::optional<Row>{std::move(out.row)};
  if (rel.on_invalid == config::OnInvalid::Skip) {
    ++w.skipped;
    return std::optional<Row>{};
  }
  const auto& r = *out.rejected;
  return Error{ErrorCode::StateMismatch,
               fmt::format("at {}: the row of {} with {} is refused by the mapping: column {}, rule {}: {}. on_invalid "
                           "is halt: fix the mapping (or the row on the source) and start crmsync again; it resumes "
                           "with this change",
                           w.commit, rel.source.qualified(), key_text(rel, source), r.column, r.rule, r.reason)};
}

}  // namespace

Status write_insert(const CachedRelation& rel, const WriteContext& w, const Row& row) {
  if (!rel.mapper) return w.applier.insert(rel.route, row);
  auto out = mapped(rel, w, row, RowOp::Insert);
  if (!out) return out.take_error();
  if (!*out) return {};
  return w.applier.insert(rel.route, **out);
}

Status write_update(const CachedRelation& rel, const WriteContext& w, sink::postgres::OldKind old_kind,
                    const Row& old_row, const Row& new_row) {
  if (!rel.mapper) return w.applier.update(rel.route, old_kind, old_row, new_row);
  auto row = mapped(rel, w, new_row, RowOp::Update);
  if (!row) return row.take_error();
  if (!*row) return {};
  if (old_kind == sink::postgres::OldKind::None) return w.applier.update(rel.route, old_kind, old_row, **row);
  auto old = mapped(rel, w, old_row, RowOp::Old);
  if (!old) return old.take_error();
  if (!*old) return {};
  return w.applier.update(rel.route, old_kind, **old, **row);
}

Status write_remove(const CachedRelation& rel, const WriteContext& w, sink::postgres::OldKind old_kind,
                    const Row& old_row) {
  if (!rel.mapper) return w.applier.remove(rel.route, old_kind, old_row);
  auto old = mapped(rel, w, old_row, RowOp::Old);
  if (!old) return old.take_error();
  if (!*old) return {};
  return w.applier.remove(rel.route, old_kind, **old);
}

}  // namespace crmsync::daemon
