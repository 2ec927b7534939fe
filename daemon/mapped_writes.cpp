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
    parts.push_back(sink::postgres::key_part(rel.relation.columns[i].name, row[i]));
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

// The row of a change as the queue keeps it: every source column, by name.
std::vector<std::pair<std::string, Value>> named(const CachedRelation& rel, const Row& row) {
  std::vector<std::pair<std::string, Value>> out;
  for (std::size_t i = 0; i < rel.relation.columns.size() && i < row.size(); ++i) {
    out.emplace_back(rel.relation.columns[i].name, row[i]);
  }
  return out;
}

// One change of a mapped table, as the queue and the messages need it.
struct Change {
  sink::postgres::LetterOp op;
  const Row* row;  // the new row (INSERT, UPDATE), or the old key (DELETE)
  const Row* old;  // UPDATE, DELETE: the old key or old row; nullptr when the change has none
};

sink::postgres::DeadLetter letter_of(const CachedRelation& rel, const WriteContext& w, const Change& c) {
  sink::postgres::DeadLetter l;
  l.source_table = rel.source.qualified();
  l.key = key_text(rel, c.old != nullptr ? *c.old : *c.row);
  l.op = c.op;
  l.lsn = w.commit;
  if (c.op != sink::postgres::LetterOp::Delete) l.row = named(rel, *c.row);
  if (c.old != nullptr) l.old_key = named(rel, *c.old);
  return l;
}

// Whether the change must wait behind a dead letter of its key (old or new); if so it is recorded
// as a letter itself, and the new key waits from now on too.
Result<bool> waits(const CachedRelation& rel, const WriteContext& w, const Change& c) {
  if (rel.on_invalid != config::OnInvalid::DeadLetter || w.letters.empty()) return false;
  const auto table = rel.source.qualified();
  if (!w.letters.holds_any(table)) return false;
  const bool old_held = c.old != nullptr && w.letters.holds(table, key_text(rel, *c.old));
  const bool new_held = c.op != sink::postgres::LetterOp::Delete && w.letters.holds(table, key_text(rel, *c.row));
  if (!old_held && !new_held) return false;
  auto l = letter_of(rel, w, c);
  l.rule = "waits_behind";
  l.reason = "an earlier change to this key is a dead letter; this one is applied after it, by dlq retry";
  if (auto ok = w.letters.record(w.applier, l); !ok) return ok.take_error();
  if (c.op == sink::postgres::LetterOp::Update && c.old != nullptr) {
    auto moved = l;  // the row's new key waits too
    moved.key = key_text(rel, *c.row);
    if (moved.key != l.key && !w.letters.holds(table, moved.key)) {
      moved.reason = fmt::format("the row moved here from key {}, which waits behind a dead letter", l.key);
      if (auto ok = w.letters.record(w.applier, moved); !ok) return ok.take_error();
    }
  }
  return true;
}

// The mapped row, or nothing when it is refused (dead-lettered or skipped); an error when it
// stops the stream.
Result<std::optional<Row>> mapped(const CachedRelation& rel, const WriteContext& w, const Row& source, RowOp op,
                                  const Change& change) {
  // Lookups first (into a copy: a letter keeps the legacy values), on the applier's session inside
  // the batch, so a parent written earlier in the same batch is found.
  const auto map_row = [&](const Row& row) -> Result<mapping::MapOutcome> {
    if (w.lookups == nullptr || rel.mapper->lookups().empty()) return rel.mapper->map(row, op);
    Row resolved = row;
    auto missing = rel.mapper->resolve_lookups(resolved, *w.lookups, op);
    if (!missing) return missing.take_error();
    if (*missing) return mapping::MapOutcome{.row = {}, .rejected = std::move(*missing), .need = {}};
    return rel.mapper->map(resolved, op);
  };
  auto mapped_once = map_row(source);
  if (!mapped_once) return mapped_once.take_error();
  auto out = std::move(mapped_once).value();
  if (!out.need.empty()) {
    Row filled = source;
    if (auto ok = fill(rel, w, out.need, filled); !ok) return ok.take_error();
    auto again = map_row(filled);
    if (!again) return again.take_error();
    out = std::move(again).value();
  }
  if (!out.rejected) return std::optional<Row>{std::move(out.row)};
  const auto& r = *out.rejected;
  switch (rel.on_invalid) {
    case config::OnInvalid::Skip: ++w.skipped; return std::optional<Row>{};
    case config::OnInvalid::DeadLetter: {
      auto l = letter_of(rel, w, change);
      l.rule = r.rule;
      l.column = r.column;
      l.reason = r.reason;
      if (auto ok = w.letters.record(w.applier, l); !ok) return ok.take_error();
      if (change.op == sink::postgres::LetterOp::Update && change.old != nullptr) {
        auto moved = l;
        moved.key = key_text(rel, *change.row);
        if (moved.key != l.key) {
          if (auto ok = w.letters.record(w.applier, moved); !ok) return ok.take_error();
        }
      }
      return std::optional<Row>{};
    }
    case config::OnInvalid::Halt: break;
  }
  return Error{ErrorCode::StateMismatch,
               fmt::format("at {}: the row of {} with {} is refused by the mapping: column {}, rule {}: {}. on_invalid "
                           "is halt: fix the mapping (or the row on the source) and start crmsync again; it resumes "
                           "with this change",
                           w.commit, rel.source.qualified(), key_text(rel, source), r.column, r.rule, r.reason)};
}

}  // namespace

Result<DeadLetterQueue> DeadLetterQueue::load(pq::Connection& target, const std::string& pipeline) {
  auto keys = sink::postgres::dead_keys(target, pipeline);
  if (!keys) return keys.take_error();
  DeadLetterQueue q;
  q.pipeline_ = pipeline;
  q.keys_ = std::move(keys).value();
  return q;
}

bool DeadLetterQueue::holds(const std::string& table, const std::string& key) const {
  for (const auto* keys : {&keys_, &pending_}) {
    const auto it = keys->find(table);
    if (it != keys->end() && it->second.contains(key)) return true;
  }
  return false;
}

Status DeadLetterQueue::record(sink::postgres::Applier& applier, const sink::postgres::DeadLetter& letter) {
  if (auto ok = applier.execute(sink::postgres::insert_letter_sql(pipeline_, letter)); !ok) return ok;
  pending_[letter.source_table].insert(letter.key);
  ++pending_count_;
  return {};
}

bool DeadLetterQueue::holds_any(const std::string& table) const {
  for (const auto* keys : {&keys_, &pending_}) {
    const auto it = keys->find(table);
    if (it != keys->end() && !it->second.empty()) return true;
  }
  return false;
}

void DeadLetterQueue::commit() {
  for (auto& [table, keys] : pending_) keys_[table].merge(keys);
  pending_.clear();
  recorded_ += pending_count_;
  pending_count_ = 0;
}

void DeadLetterQueue::rollback() {
  pending_.clear();
  pending_count_ = 0;
}

Status write_insert(const CachedRelation& rel, const WriteContext& w, const Row& row) {
  if (!rel.mapper) return w.applier.insert(rel.route, row);
  const Change change{sink::postgres::LetterOp::Insert, &row, nullptr};
  auto held = waits(rel, w, change);
  if (!held) return held.take_error();
  if (*held) return {};
  auto out = mapped(rel, w, row, RowOp::Insert, change);
  if (!out) return out.take_error();
  if (!*out) return {};
  return w.applier.insert(rel.route, **out);
}

Status write_update(const CachedRelation& rel, const WriteContext& w, sink::postgres::OldKind old_kind,
                    const Row& old_row, const Row& sent_row) {
  if (!rel.mapper) return w.applier.update(rel.route, old_kind, old_row, sent_row);
  const bool has_old = old_kind != sink::postgres::OldKind::None;
  // REPLICA IDENTITY FULL sends the whole old row: a value the new row leaves out (unchanged
  // TOAST) is that one, so neither the mapping nor the row's key needs a read from the source.
  Row completed;
  if (old_kind == sink::postgres::OldKind::Full && old_row.size() == sent_row.size()) {
    completed = sent_row;
    for (std::size_t i = 0; i < completed.size(); ++i) {
      if (completed[i].is_unchanged_toast()) completed[i] = old_row[i];
    }
  }
  const Row& new_row = completed.empty() ? sent_row : completed;
  const Change change{sink::postgres::LetterOp::Update, &new_row, has_old ? &old_row : nullptr};
  auto held = waits(rel, w, change);
  if (!held) return held.take_error();
  if (*held) return {};
  auto row = mapped(rel, w, new_row, RowOp::Update, change);
  if (!row) return row.take_error();
  if (!*row) return {};
  if (!has_old) return w.applier.update(rel.route, old_kind, old_row, **row);
  auto old = mapped(rel, w, old_row, RowOp::Old, change);
  if (!old) return old.take_error();
  if (!*old) return {};
  return w.applier.update(rel.route, old_kind, **old, **row);
}

Status write_remove(const CachedRelation& rel, const WriteContext& w, sink::postgres::OldKind old_kind,
                    const Row& old_row) {
  if (!rel.mapper) return w.applier.remove(rel.route, old_kind, old_row);
  const Change change{sink::postgres::LetterOp::Delete, &old_row, &old_row};
  auto held = waits(rel, w, change);
  if (!held) return held.take_error();
  if (*held) return {};
  auto old = mapped(rel, w, old_row, RowOp::Old, change);
  if (!old) return old.take_error();
  if (!*old) return {};
  return w.applier.remove(rel.route, old_kind, **old);
}

}  // namespace crmsync::daemon
