// `crmsync dlq retry <id|all>`: applies dead letters through the current mapping, each key's
// letters in their order, one target transaction per key. A letter the mapping still refuses, or
// an UPDATE or DELETE whose row the target does not have, stays with the reason, and so do the
// later letters of its key.

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>

#include "checkpoint/store.hpp"
#include "daemon/dlq_command.hpp"
#include "daemon/lookups.hpp"
#include "daemon/sessions.hpp"
#include "mapping/row_mapper.hpp"
#include "pq/catalog.hpp"
#include "sink/postgres/copy_sink.hpp"
#include "sink/postgres/dead_letters.hpp"

namespace crmsync::daemon {
namespace {

using sink::postgres::LetterOp;
using sink::postgres::StoredLetter;

// The configured table a letter names (letters keep the qualified name as source.tables has it).
std::optional<config::TableName> configured(const config::PipelineConfig& cfg, const std::string& qualified) {
  for (const auto& t : cfg.source.tables) {
    if (t.qualified() == qualified) return t;
  }
  return std::nullopt;
}

struct Outcome {
  std::int64_t applied = 0;
  std::int64_t left = 0;
};

// What a letter becomes on the target: a statement and its parameters, or why not.
struct Statement {
  std::string sql;
  std::vector<std::optional<std::string>> params;
  std::optional<std::string> refused;  // the rule and reason, when the mapping still refuses it
};

std::optional<std::string> param(const Value& v) {
  return v.kind == ValueKind::Text ? std::optional<std::string>(v.text) : std::nullopt;
}

Result<Statement> statement_for(const config::PipelineConfig& cfg, const config::TableName& table_name,
                                const TableInfo& source, const StoredLetter& s, mapping::Encoding encoding,
                                mapping::LookupSource& lookups) {
  const auto& l = s.letter;
  const auto* mapping = cfg.mapping_for(table_name);
  const auto target = mapping != nullptr ? mapping->to : table_name;
  const auto& named = l.op == LetterOp::Delete ? l.old_key : l.row;
  std::vector<std::string> names;
  Row row;
  for (const auto& [name, v] : named) {
    names.push_back(name);
    row.push_back(v);
  }
  auto mapper = mapping::RowMapper::compile(mapping, names, encoding);
  if (!mapper) return mapper.take_error();
  Statement st;
  const auto refuse = [&](const mapping::MapOutcome& out) {
    if (out.rejected)
      return fmt::format("column {}, rule {}: {}", out.rejected->column, out.rejected->rule, out.rejected->reason);
    return std::string("an unchanged TOASTed value the mapping needs is not in the letter");
  };
  // The key columns the target row is found by: the source's replica identity, carried 1:1.
  const bool full = source.replica_identity == ReplicaIdentity::Full;
  const auto where = [&](const Row& mapped, std::vector<std::optional<std::string>>& params) {
    std::vector<std::string> parts;
    if (mapping != nullptr && !mapping->key.empty()) {  // the mapping's target key (consolidation)
      const auto& targets = mapper->target_columns();
      for (const auto& name : mapping->key) {
        const auto t = static_cast<std::size_t>(std::find(targets.begin(), targets.end(), name) - targets.begin());
        if (t == targets.size() || mapped[t].kind == ValueKind::UnchangedToast) return std::vector<std::string>{};
        params.push_back(param(mapped[t]));
        parts.push_back(fmt::format("{} IS NOT DISTINCT FROM ${}", pq::quote_ident(name), params.size()));
      }
      return parts;
    }
    for (std::size_t i = 0; i < names.size(); ++i) {
      const auto* col = source.column(names[i]);
      if (col == nullptr || (!full && !col->primary_key)) continue;
      const auto to = mapper->carried_to(i);
      if (!to || mapped[*to].kind == ValueKind::UnchangedToast) continue;
      params.push_back(param(mapped[*to]));
      parts.push_back(
          fmt::format("{} IS NOT DISTINCT FROM ${}", pq::quote_ident(mapper->target_columns()[*to]), params.size()));
    }
    return parts;
  };
  const auto table = pq::quote_qualified(target.schema, target.table);
  Row old_mapped;
  if (l.op != LetterOp::Insert) {
    Row old;
    std::vector<std::string> old_names;
    for (const auto& [name, v] : (l.old_key.empty() ? l.row : l.old_key)) {
      old_names.push_back(name);
      old.push_back(v);
    }
    if (old_names != names)
      return Error{ErrorCode::StateMismatch,
                   fmt::format("dead letter {}: its old key and row name different columns", s.id)};
    auto resolved = mapper->resolve_lookups(old, lookups, mapping::RowOp::Old);
    if (!resolved) return resolved.take_error();
    auto out = mapper->map(old, mapping::RowOp::Old);
    if (!out.ok()) {
      st.refused = refuse(out);
      return st;
    }
    old_mapped = std::move(out.row);
  }
  if (l.op == LetterOp::Delete) {
    const auto parts = where(old_mapped, st.params);
    if (parts.empty())
      return Error{ErrorCode::StateMismatch, fmt::format("dead letter {}: no key to find its row by", s.id)};
    st.sql = fmt::format("DELETE FROM {} WHERE {}", table, fmt::join(parts, " AND "));
    return st;
  }
  // Through the current lookups too: a letter waiting for its parent applies once the parent is there.
  const auto op = l.op == LetterOp::Insert ? mapping::RowOp::Insert : mapping::RowOp::Update;
  auto missing = mapper->resolve_lookups(row, lookups, op);
  if (!missing) return missing.take_error();
  if (*missing) {
    st.refused = fmt::format("column {}, rule {}: {}", (*missing)->column, (*missing)->rule, (*missing)->reason);
    return st;
  }
  auto out = mapper->map(row, op);
  if (!out.ok()) {
    st.refused = refuse(out);
    return st;
  }
  std::vector<std::string> columns;
  std::vector<std::string> values;
  for (std::size_t t = 0; t < out.row.size(); ++t) {
    if (out.row[t].kind == ValueKind::UnchangedToast) continue;
    st.params.push_back(param(out.row[t]));
    columns.push_back(pq::quote_ident(mapper->target_columns()[t]));
    values.push_back(fmt::format("${}", st.params.size()));
  }
  if (l.op == LetterOp::Insert) {
    st.sql = fmt::format("INSERT INTO {} ({}) VALUES ({})", table, fmt::join(columns, ", "), fmt::join(values, ", "));
    return st;
  }
  std::vector<std::string> sets;
  for (std::size_t i = 0; i < columns.size(); ++i) sets.push_back(columns[i] + " = " + values[i]);
  const auto parts = where(old_mapped, st.params);
  if (parts.empty())
    return Error{ErrorCode::StateMismatch, fmt::format("dead letter {}: no key to find its row by", s.id)};
  st.sql = fmt::format("UPDATE {} SET {} WHERE {}", table, fmt::join(sets, ", "), fmt::join(parts, " AND "));
  return st;
}

// One key's letters, in order, in one target transaction.
Result<Outcome> retry_key(const config::PipelineConfig& cfg, pq::Connection& target, pq::Connection& source,
                          const std::vector<const StoredLetter*>& letters, mapping::Encoding encoding) {
  Outcome outcome;
  const auto name = configured(cfg, letters.front()->letter.source_table);
  if (!name) {
    return Error{ErrorCode::StateMismatch, fmt::format("dead letter {}: source table {} is no longer in source.tables",
                                                       letters.front()->id, letters.front()->letter.source_table)};
  }
  auto info = pq::read_table(source, name->schema, name->table);
  if (!info) return info.take_error();
  if (!info->has_value()) {
    return Error{ErrorCode::StateMismatch, fmt::format("source table {} of dead letter {} no longer exists",
                                                       name->qualified(), letters.front()->id)};
  }
  if (auto ok = target.exec("BEGIN"); !ok) return ok.take_error();
  // Inside this key's transaction: a parent retried earlier in it is found.
  TargetLookups lookups([&target]() -> Result<pq::Connection*> { return &target; });
  for (std::size_t i = 0; i < letters.size(); ++i) {
    const auto& s = *letters[i];
    auto st = statement_for(cfg, *name, **info, s, encoding, lookups);
    if (!st) {
      (void)target.exec("ROLLBACK");
      return st.take_error();
    }
    // A letter that stays keeps the key's later letters behind it; what came before commits.
    const auto keep = [&](const std::string& reason) -> Status {
      auto noted = target.exec_params(
          fmt::format("UPDATE {}.dead_letters SET reason = $2 WHERE id = $1::bigint", sink::postgres::kStateSchema),
          {std::to_string(s.id), reason});
      if (!noted) {
        (void)target.exec("ROLLBACK");
        return noted.take_error();
      }
      outcome.left = static_cast<std::int64_t>(letters.size() - i);
      return {};
    };
    if (st->refused) {
      if (auto ok = keep("still refused by the current mapping: " + *st->refused); !ok) return ok.take_error();
      break;
    }
    auto applied = target.exec_params(st->sql, st->params);
    if (!applied) {
      (void)target.exec("ROLLBACK");
      return Error{applied.error().code, fmt::format("dead letter {} ({} {}): {}", s.id, s.letter.source_table,
                                                     s.letter.key, applied.error().message)};
    }
    // An UPDATE or DELETE that finds no row did not apply the letter: counting it as applied and
    // deleting it would lose the change without a trace.
    if (s.letter.op != LetterOp::Insert && applied->affected() == 0) {
      if (auto ok = keep("the target has no row with this key (deleted there, or its insert was dropped from the "
                         "queue); restore the row and retry, or drop this letter");
          !ok)
        return ok.take_error();
      break;
    }
    auto removed = target.exec_params(
        fmt::format("DELETE FROM {}.dead_letters WHERE id = $1::bigint", sink::postgres::kStateSchema),
        {std::to_string(s.id)});
    if (!removed) {
      (void)target.exec("ROLLBACK");
      return removed.take_error();
    }
    ++outcome.applied;
  }
  if (auto ok = target.exec("COMMIT"); !ok) return ok.take_error();
  return outcome;
}

}  // namespace

ExitCode dlq_retry_command(const config::PipelineConfig& cfg, const std::string& id) {
  const auto parsed = parse_letter_id(id);
  if (!parsed) {
    std::fprintf(stderr, "crmsync dlq %s: \"%s\" is neither a letter id nor all\n", "retry", id.c_str());
    return ExitCode::Usage;
  }
  const auto which = *parsed;
  // The stream must not run meanwhile: it would race the retried letters of a key with its own
  // later changes. Holding the state directory's lock proves it is stopped.
  auto store = checkpoint::Store::open(cfg.state_dir);
  if (!store) {
    spdlog::error("crmsync dlq retry: {}; stop the daemon first (e.g. systemctl stop crmsync@{}), retry, then start it",
                  store.error().message, cfg.name);
    return ExitCode::Failure;
  }
  auto probe = pq::Connection::connect(bare_target_options(cfg, "crmsync dlq"));
  if (!probe) {
    spdlog::error("crmsync dlq retry: {}", probe.error().message);
    return ExitCode::Failure;
  }
  // Before the first run there is no queue: nothing to retry, not an error.
  auto exists =
      probe->exec(fmt::format("SELECT to_regclass('{}.dead_letters') IS NOT NULL", sink::postgres::kStateSchema));
  if (!exists) {
    spdlog::error("crmsync dlq retry: {}", exists.error().message);
    return ExitCode::Failure;
  }
  if (exists->get(0, 0) != "t") {
    std::printf("no dead letters (crmsync has not written to this target yet)\n");
    return ExitCode::Ok;
  }
  auto encoding = read_target_encoding(*probe);
  if (!encoding) {
    spdlog::error("crmsync dlq retry: {}", encoding.error().message);
    return ExitCode::Failure;
  }
  const Sessions sessions(cfg, *encoding);
  auto target = pq::Connection::connect(sessions.target("crmsync dlq"));
  auto source =
      target ? pq::Connection::connect(sessions.source("crmsync dlq")) : Result<pq::Connection>(target.error());
  if (!target || !source) {
    spdlog::error("crmsync dlq retry: {}", (!target ? target : source).error().message);
    return ExitCode::Failure;
  }
  auto listed = sink::postgres::list_letters(*target, cfg.name, "");
  if (!listed) {
    spdlog::error("crmsync dlq retry: {}", listed.error().message);
    return ExitCode::Failure;
  }
  // Letters grouped by key, keys in the order of their first letter; with an id, only that
  // letter's key, from that letter on.
  std::vector<std::pair<std::string, std::vector<const StoredLetter*>>> groups;
  std::map<std::string, std::size_t> index;
  std::string chosen;
  for (const auto& s : *listed) {
    const auto key = s.letter.source_table + "\n" + s.letter.key;
    if (which && s.id == *which) chosen = key;
  }
  if (which && chosen.empty()) {
    std::fprintf(stderr, "crmsync dlq retry: no dead letter %s in pipeline %s\n", id.c_str(), cfg.name.c_str());
    return ExitCode::Failure;
  }
  for (const auto& s : *listed) {
    const auto key = s.letter.source_table + "\n" + s.letter.key;
    if (which && (key != chosen || s.id < *which)) continue;
    auto [it, added] = index.emplace(key, groups.size());
    if (added) groups.push_back({key, {}});
    groups[it->second].second.push_back(&s);
  }
  Outcome total;
  for (const auto& [key, letters] : groups) {
    auto done = retry_key(cfg, *target, *source, letters, mapping::encoding_of(*encoding));
    if (!done) {
      spdlog::error("crmsync dlq retry: {}", done.error().message);
      return ExitCode::Failure;
    }
    total.applied += done->applied;
    total.left += done->left;
  }
  std::printf("applied %lld dead letter(s); %lld left (see crmsync dlq list)\n", static_cast<long long>(total.applied),
              static_cast<long long>(total.left));
  std::fflush(stdout);
  return total.left == 0 ? ExitCode::Ok : ExitCode::Failure;
}

}  // namespace crmsync::daemon
