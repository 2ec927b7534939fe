#include "daemon/verify.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "daemon/copy_setup.hpp"
#include "daemon/lookups.hpp"
#include "daemon/sessions.hpp"
#include "daemon/verify_chunks.hpp"
#include "mapping/column_plan.hpp"
#include "mapping/row_mapper.hpp"
#include "pq/catalog.hpp"
#include "sink/postgres/copy_sink.hpp"
#include "sink/postgres/dead_letters.hpp"

namespace crmsync::daemon {
namespace {

using detail::bucket_pass;
using detail::BucketPass;
using detail::Plan;
using Text = std::optional<std::string>;  // a value in the target's text form; nullopt is NULL
using Values = std::vector<Text>;

// Both sides print values the same way whatever their defaults (Sessions pins DateStyle,
// IntervalStyle and extra_float_digits; these two only matter for printing, which only verify
// compares as text).
constexpr const char* kPrintSettings = "SET TimeZone = 'UTC'; SET bytea_output = 'hex'";

Text text_of(const Value& v) {
  if (v.kind != ValueKind::Text) return std::nullopt;
  return v.text;
}

// An array literal of text values, for unnest($1::text[]).
std::string text_array(const std::vector<Text>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    if (!values[i]) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (const char c : *values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

// The comparison key of a row: its values at `cols`, length-prefixed so that no value can read
// as two.
std::string key_of(const Values& row, const std::vector<std::size_t>& cols) {
  std::string k;
  for (const auto c : cols) {
    if (!row[c]) {
      k += "N;";
      continue;
    }
    k += fmt::format("{}:", row[c]->size());
    k += *row[c];
  }
  return k;
}

std::string describe(const Values& row, const std::vector<std::size_t>& cols, const std::vector<std::string>& names) {
  std::vector<std::string> parts;
  for (const auto c : cols) {
    parts.push_back(sink::postgres::key_part(names[c], row[c] ? Value::of(*row[c]) : Value::null()));
  }
  auto out = fmt::format("{}", fmt::join(parts, ", "));
  if (out.size() > 300) out = out.substr(0, 297) + "...";
  return out;
}

// Both sides in one order, so that matched keys leave the pending maps at once: the column's own
// order (an integer key reads its primary key index, no sort on the production source), with
// byte order for text, whose collation may differ between the two databases. A type this does not
// recognise as text and that sorts differently on the two sides costs memory, not a wrong verdict.
bool is_text_type(const std::string& type) {
  return type == "text" || type.starts_with("character") || type == "citext" || type == "name";
}

std::string order_by(const std::vector<std::string>& names, const std::vector<std::string>& types,
                     const std::vector<std::size_t>& cols) {
  std::vector<std::string> parts;
  for (const auto c : cols) {
    parts.push_back(pq::quote_ident(names[c]) + (is_text_type(types[c]) ? " COLLATE \"C\"" : ""));
  }
  if (parts.empty()) return {};
  return fmt::format(" ORDER BY {}", fmt::join(parts, ", "));
}

Result<Plan> plan_for(const config::PipelineConfig& cfg, const config::TableName& name, pq::Connection& source,
                      pq::Connection& target, mapping::Encoding encoding, std::optional<mapping::RowMapper>& mapper) {
  Plan p;
  p.source = name;
  p.mapping = cfg.mapping_for(name);
  p.target = p.mapping != nullptr ? p.mapping->to : name;
  auto src = pq::read_table(source, name.schema, name.table);
  if (!src) return src.take_error();
  if (!src->has_value()) return Error{ErrorCode::StateMismatch, "the source table does not exist"};
  auto dst = pq::read_table(target, p.target.schema, p.target.table);
  if (!dst) return dst.take_error();
  if (!dst->has_value()) {
    return Error{ErrorCode::StateMismatch, fmt::format("the target table {} does not exist", p.target.qualified())};
  }
  // Matched by primary key when there is one, whatever the replica identity (a FULL identity only
  // makes the stream send old rows); a table without one is a multiset of rows.
  const bool full = !(*src)->has_primary_key;
  for (const auto& c : (*src)->columns) {
    if (c.generated) continue;
    if (c.primary_key && !full) p.source_key.push_back(p.source_columns.size());
    p.source_columns.push_back(c.name);
    p.source_types.push_back(c.type);
  }
  auto compiled = mapping::RowMapper::compile(p.mapping, p.source_columns, encoding);
  if (!compiled) return compiled.take_error();
  mapper.emplace(std::move(compiled).value());
  p.target_columns = mapper->target_columns();
  for (std::size_t t = 0; t < p.target_columns.size(); ++t) {
    const auto* col = (*dst)->column(p.target_columns[t]);
    if (col == nullptr) {
      return Error{ErrorCode::StateMismatch,
                   fmt::format("the target table {} has no column {}", p.target.qualified(), p.target_columns[t])};
    }
    p.target_types.push_back(col->type);
    // A value the mapping computes, or one of another type than the source's, is compared in the
    // form the target's type gives it (' 5' into an integer is 5; a date_format result is a date).
    bool same_type = false;
    for (std::size_t i = 0; i < p.source_columns.size(); ++i) {
      if (mapper->carried_to(i) == t) same_type = (*src)->column(p.source_columns[i])->type == col->type;
    }
    p.canonical.push_back(mapper->changes_values() || !same_type);
  }
  const auto owned = mapping::owned_rows(p.mapping);
  const auto is_owned = [&](const std::string& column) {
    return std::any_of(owned.begin(), owned.end(), [&](const auto& o) { return o.column == column; });
  };
  const auto target_index = [&](const std::string& column) -> std::optional<std::size_t> {
    const auto it = std::find(p.target_columns.begin(), p.target_columns.end(), column);
    if (it == p.target_columns.end()) return std::nullopt;
    return static_cast<std::size_t>(it - p.target_columns.begin());
  };
  if (p.mapping != nullptr && !p.mapping->key.empty()) {
    for (const auto& k : p.mapping->key) {
      const auto t = target_index(k);
      if (!t) {
        return Error{ErrorCode::ConfigInvalid, fmt::format("the mapping's key column {} is not written by it", k)};
      }
      p.key.push_back(*t);
    }
  } else if (!full) {
    for (const auto i : p.source_key) {
      const auto t = mapper->carried_to(i);
      if (!t) {
        return Error{ErrorCode::ConfigInvalid,
                     fmt::format("the source key column {} is not carried to one target column (excluded or split): "
                                 "name the target key with the mapping's `key`",
                                 p.source_columns[i])};
      }
      p.key.push_back(*t);
    }
  }
  if (p.key.empty()) {
    p.keyed = false;
    for (std::size_t t = 0; t < p.target_columns.size(); ++t) p.key.push_back(t);
    for (std::size_t i = 0; i < p.source_columns.size(); ++i) p.source_order.push_back(i);
  } else {
    for (const auto t : p.key) {
      if (is_owned(p.target_columns[t])) continue;  // one value on every row of this pipeline
      bool found = false;
      for (std::size_t i = 0; i < p.source_columns.size() && !found; ++i) {
        if (mapper->carried_to(i) == t) {
          p.source_order.push_back(i);
          found = true;
        }
      }
      if (!found) {
        p.source_order = p.source_key;  // a computed key: read in source key order, match by value
        break;
      }
    }
  }
  for (const auto t : p.key) {
    if (!p.keyed || !is_owned(p.target_columns[t])) p.target_order.push_back(t);
  }
  p.owned = owned_predicate(p.mapping);
  return p;
}

// Mapped values into the target's text form: one statement per batch, every value through its
// column's type (`$1::text[]` unnested, cast to the column type, printed back).
Status canonicalize(pq::Connection& target, const Plan& p, std::vector<Values>& rows) {
  std::vector<std::size_t> cols;
  for (std::size_t t = 0; t < p.canonical.size(); ++t) {
    if (p.canonical[t]) cols.push_back(t);
  }
  if (cols.empty() || rows.empty()) return {};
  std::vector<std::string> select;
  std::vector<std::string> arrays;
  std::vector<std::string> aliases;
  std::vector<std::optional<std::string>> params;
  for (std::size_t n = 0; n < cols.size(); ++n) {
    select.push_back(fmt::format("(u.c{})::{}::text", n, p.target_types[cols[n]]));
    arrays.push_back(fmt::format("${}::text[]", n + 1));
    aliases.push_back(fmt::format("c{}", n));
    std::vector<Text> column;
    column.reserve(rows.size());
    for (const auto& r : rows) column.push_back(r[cols[n]]);
    params.emplace_back(text_array(column));
  }
  auto res = target.exec_params(fmt::format("SELECT {} FROM unnest({}) WITH ORDINALITY AS u({}, ord) ORDER BY ord",
                                            fmt::join(select, ", "), fmt::join(arrays, ", "), fmt::join(aliases, ", ")),
                                params);
  if (!res) {
    return Error{ErrorCode::QueryFailed,
                 fmt::format("a mapped value does not fit its target column's type ({}): crmsync check names the "
                             "columns whose rules write values the target refuses",
                             res.error().message)};
  }
  if (res->rows() != static_cast<int>(rows.size())) {
    return Error{ErrorCode::Internal, "the target returned another number of values than it was sent"};
  }
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t n = 0; n < cols.size(); ++n)
      rows[r][cols[n]] = res->get_opt(static_cast<int>(r), static_cast<int>(n));
  }
  return {};
}

// A row the mapping refuses matters only by its target key: the key columns of its old-row
// mapping (transforms, no validators), or, when a transform refuses it too, the carried source
// values; the other columns NULL, so that no refused value reaches the target's input functions.
Values key_only(const Plan& p, const mapping::RowMapper& mapper, const Row& row, const mapping::MapOutcome& old) {
  Values v(p.target_columns.size());
  if (!old.row.empty()) {
    for (const auto t : p.key) {
      if (t < old.row.size()) v[t] = text_of(old.row[t]);
    }
    return v;
  }
  for (std::size_t i = 0; i < row.size(); ++i) {
    const auto t = mapper.carried_to(i);
    if (t && std::find(p.key.begin(), p.key.end(), *t) != p.key.end()) v[*t] = text_of(row[i]);
  }
  return v;
}

// The target keys of the table's dead letters (each letter's row and old key, through the
// mapping's transforms).
Result<std::unordered_set<std::string>> dead_letter_keys(const config::PipelineConfig& cfg, pq::Connection& target,
                                                         const Plan& p, const mapping::RowMapper& mapper) {
  std::unordered_set<std::string> out;
  auto exists =
      target.exec(fmt::format("SELECT to_regclass('{}.dead_letters') IS NOT NULL", sink::postgres::kStateSchema));
  if (!exists) return exists.take_error();
  if (exists->get(0, 0) != "t") return out;
  auto letters = sink::postgres::list_letters(target, cfg.name, p.source.qualified());
  if (!letters) return letters.take_error();
  std::vector<Values> rows;
  for (const auto& stored : *letters) {
    for (const auto* named : {&stored.letter.row, &stored.letter.old_key}) {
      if (named->empty()) continue;
      Row row(p.source_columns.size(), Value::unchanged_toast());
      for (const auto& [column, value] : *named) {
        const auto it = std::find(p.source_columns.begin(), p.source_columns.end(), column);
        if (it != p.source_columns.end()) row[static_cast<std::size_t>(it - p.source_columns.begin())] = value;
      }
      rows.push_back(key_only(p, mapper, row, mapper.map(row, mapping::RowOp::Old)));
    }
  }
  if (auto ok = canonicalize(target, p, rows); !ok) return ok.take_error();
  for (const auto& r : rows) out.insert(key_of(r, p.key));
  return out;
}

class Comparison {
 public:
  Comparison(const Plan& p, TableVerdict& v, std::size_t max_keys, std::unordered_set<std::string> dead)
      : p_(p), v_(v), max_keys_(max_keys), dead_(std::move(dead)) {}

  void source_row(Values values, std::optional<mapping::Rejection> rejected) {
    ++v_.source_rows;
    auto k = key_of(values, p_.key);
    if (!p_.keyed) {
      if (rejected) return refused_unmatched(k, values, *rejected);
      return count(k, std::move(values), +1);
    }
    if (const auto t = target_.find(k); t != target_.end()) {
      compare(k, values, t->second, rejected);
      target_.erase(t);
      return;
    }
    if (!source_.try_emplace(k, Pending{std::move(values), std::move(rejected)}).second) {
      add(DiffKind::Missing, describe(source_.at(k).values, p_.key, p_.target_columns), {},
          "another source row maps to the same target key");
    }
  }

  void target_row(Values values) {
    ++v_.target_rows;
    auto k = key_of(values, p_.key);
    if (!p_.keyed) return count(k, std::move(values), -1);
    if (const auto s = source_.find(k); s != source_.end()) {
      compare(k, s->second.values, values, s->second.rejected);
      source_.erase(s);
      return;
    }
    if (!target_.try_emplace(k, std::move(values)).second) {
      add(DiffKind::Extra, describe(target_.at(k), p_.key, p_.target_columns), {}, "a second target row with this key");
    }
  }

  void finish() {
    for (auto& [k, s] : source_) {
      const auto d = describe(s.values, p_.key, p_.target_columns);
      if (dead_.contains(k))
        add(DiffKind::DeadLetter, d, {}, "");
      else if (s.rejected && skips())
        add(DiffKind::Skipped, d, {}, refusal(*s.rejected));
      else
        add(DiffKind::Missing, d, {}, s.rejected ? refusal(*s.rejected) : std::string());
    }
    for (auto& [k, values] : target_) {
      add(dead_.contains(k) ? DiffKind::DeadLetter : DiffKind::Extra, describe(values, p_.key, p_.target_columns), {},
          "");
    }
    for (const auto& [k, counted] : counts_) {
      const auto& [n, values] = counted;
      const auto d = describe(values, p_.key, p_.target_columns);
      for (std::int64_t i = 0; i < std::abs(n); ++i) {
        add(dead_.contains(k) ? DiffKind::DeadLetter : n > 0 ? DiffKind::Missing : DiffKind::Extra, d, {}, "");
      }
    }
  }

 private:
  struct Pending {
    Values values;
    std::optional<mapping::Rejection> rejected;
  };

  // No key: rows are a multiset; `by` is +1 for a source row, -1 for a target row.
  void count(const std::string& k, Values values, std::int64_t by) {
    auto it = counts_.try_emplace(k, 0, std::move(values)).first;
    it->second.first += by;
    if (it->second.first == 0) counts_.erase(it);
  }

  [[nodiscard]] bool skips() const {
    return p_.mapping != nullptr && p_.mapping->on_invalid == config::OnInvalid::Skip;
  }
  static std::string refusal(const mapping::Rejection& r) {
    return fmt::format("the mapping refuses the source row: column {}, rule {}: {}", r.column, r.rule, r.reason);
  }

  void refused_unmatched(const std::string& k, const Values& values, const mapping::Rejection& r) {
    const auto d = describe(values, p_.key, p_.target_columns);
    if (dead_.contains(k))
      add(DiffKind::DeadLetter, d, {}, "");
    else if (skips())
      add(DiffKind::Skipped, d, {}, refusal(r));
    else
      add(DiffKind::Missing, d, {}, refusal(r));
  }

  void compare(const std::string& k, const Values& src, const Values& dst,
               const std::optional<mapping::Rejection>& rejected) {
    std::vector<std::string> columns;
    for (std::size_t t = 0; t < src.size() && t < dst.size(); ++t) {
      if (src[t] != dst[t]) columns.push_back(p_.target_columns[t]);
    }
    if (columns.empty()) return;
    const auto d = describe(dst, p_.key, p_.target_columns);
    if (dead_.contains(k)) return add(DiffKind::DeadLetter, d, columns, "");
    if (rejected && skips()) return add(DiffKind::Skipped, d, columns, refusal(*rejected));
    add(DiffKind::Different, d, columns, rejected ? refusal(*rejected) : std::string());
  }

  void add(DiffKind kind, std::string key, std::vector<std::string> columns, std::string note) {
    switch (kind) {
      case DiffKind::Missing: ++v_.missing; break;
      case DiffKind::Extra: ++v_.extra; break;
      case DiffKind::Different: ++v_.different; break;
      case DiffKind::DeadLetter: ++v_.dead_letters; break;
      case DiffKind::Skipped: ++v_.skipped; break;
    }
    if (v_.keys.size() < max_keys_) v_.keys.push_back({kind, std::move(key), std::move(columns), std::move(note)});
  }

  const Plan& p_;
  TableVerdict& v_;
  std::size_t max_keys_;
  std::unordered_set<std::string> dead_;
  std::unordered_map<std::string, Pending> source_;  // keyed: source rows the target has not reached
  std::unordered_map<std::string, Values> target_;   // keyed: target rows the source has not reached
  // no key: per row, source count - target count (only rows where they differ)
  std::unordered_map<std::string, std::pair<std::int64_t, Values>> counts_;
};

Status verify_one(const config::PipelineConfig& cfg, const Sessions& sessions, const config::TableName& name,
                  const VerifyOptions& options, const ComparisonPoint& point, TableVerdict& verdict) {
  auto source = pq::Connection::connect(sessions.source("crmsync verify"));
  if (!source) return source.take_error();
  auto target = pq::Connection::connect(sessions.target("crmsync verify"));
  if (!target) return target.take_error();
  for (auto* conn : {&*source, &*target}) {
    if (auto ok = conn->exec(kPrintSettings); !ok) return ok.take_error();
  }
  std::optional<mapping::RowMapper> mapper;
  auto plan = plan_for(cfg, name, *source, *target, mapping::encoding_of(sessions.target_encoding()), mapper);
  if (!plan) return plan.take_error();
  verdict.target = plan->target.qualified();
  for (auto* conn : {&*source, &*target}) {
    if (auto ok = conn->exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !ok) return ok.take_error();
    const auto& snapshot = conn == &*source ? point.source_snapshot() : point.target_snapshot();
    if (auto ok = conn->exec(fmt::format("SET TRANSACTION SNAPSHOT {}", pq::quote_literal(snapshot))); !ok) {
      return ok.take_error();
    }
  }
  auto dead = dead_letter_keys(cfg, *target, *plan, *mapper);
  if (!dead) return dead.take_error();

  auto buckets = bucket_pass(*plan, *mapper, *source, *target);
  if (!buckets) return buckets.take_error();
  verdict.buckets = buckets->buckets;
  verdict.buckets_differing = buckets->differing;
  std::vector<std::string> source_where;
  std::vector<std::string> target_where;
  if (plan->mapping != nullptr && plan->mapping->where) source_where.push_back("(" + *plan->mapping->where + ")");
  if (!plan->owned.empty()) target_where.push_back(plan->owned);
  if (buckets->used) {
    source_where.push_back(buckets->source_filter);
    target_where.push_back(buckets->predicate);
  }
  const auto where_of = [](const std::vector<std::string>& parts) {
    return parts.empty() ? std::string() : fmt::format(" WHERE {}", fmt::join(parts, " AND "));
  };
  std::vector<std::string> quoted;
  for (const auto& c : plan->source_columns) quoted.push_back(pq::quote_ident(c));
  const auto where = where_of(source_where);
  if (auto ok = source->exec(fmt::format("DECLARE verify_source NO SCROLL CURSOR FOR SELECT {} FROM {}{}{}",
                                         fmt::join(quoted, ", "), pq::quote_qualified(name.schema, name.table), where,
                                         order_by(plan->source_columns, plan->source_types, plan->source_order)));
      !ok) {
    return ok.take_error();
  }
  quoted.clear();
  for (const auto& c : plan->target_columns) quoted.push_back(pq::quote_ident(c));
  if (auto ok = target->exec(
          fmt::format("DECLARE verify_target NO SCROLL CURSOR FOR SELECT {} FROM {}{}{}", fmt::join(quoted, ", "),
                      pq::quote_qualified(plan->target.schema, plan->target.table), where_of(target_where),
                      order_by(plan->target_columns, plan->target_types, plan->target_order)));
      !ok) {
    return ok.take_error();
  }

  TargetLookups lookups([&]() -> Result<pq::Connection*> { return &*target; });
  Comparison cmp(*plan, verdict, options.max_keys, std::move(*dead));
  const auto fetch = fmt::format("FETCH FORWARD {} FROM ", options.batch_rows);
  bool source_done = false;
  bool target_done = false;
  while (!source_done || !target_done) {
    if (!source_done) {
      auto res = source->exec(fetch + "verify_source");
      if (!res) return res.take_error();
      source_done = res->rows() == 0;
      std::vector<Values> batch;
      std::vector<std::optional<mapping::Rejection>> refused;
      Row row(plan->source_columns.size());
      for (int r = 0; r < res->rows(); ++r) {
        for (std::size_t c = 0; c < row.size(); ++c) {
          const int col = static_cast<int>(c);
          row[c] = res->is_null(r, col) ? Value::null() : Value::of(std::string(res->get(r, col)));
        }
        std::optional<mapping::Rejection> rejected;
        if (!mapper->lookups().empty()) {
          auto found = mapper->resolve_lookups(row, lookups, mapping::RowOp::Insert);
          if (!found) return found.take_error();
          rejected = *found;
        }
        auto out = rejected ? mapping::MapOutcome{} : mapper->map(row, mapping::RowOp::Insert);
        if (out.rejected) rejected = out.rejected;
        if (rejected) out = mapper->map(row, mapping::RowOp::Old);  // only its key matters now
        Values v(plan->target_columns.size());
        for (std::size_t t = 0; t < out.row.size() && t < v.size(); ++t) v[t] = text_of(out.row[t]);
        if (rejected) v = key_only(*plan, *mapper, row, out);
        batch.push_back(std::move(v));
        refused.push_back(std::move(rejected));
      }
      if (auto ok = canonicalize(*target, *plan, batch); !ok) return ok.take_error();
      for (std::size_t i = 0; i < batch.size(); ++i) cmp.source_row(std::move(batch[i]), std::move(refused[i]));
    }
    if (!target_done) {
      auto res = target->exec(fetch + "verify_target");
      if (!res) return res.take_error();
      target_done = res->rows() == 0;
      for (int r = 0; r < res->rows(); ++r) {
        Values v(plan->target_columns.size());
        for (std::size_t c = 0; c < v.size(); ++c) v[c] = res->get_opt(r, static_cast<int>(c));
        cmp.target_row(std::move(v));
      }
    }
  }
  cmp.finish();
  verdict.source_rows += buckets->source_rows;
  verdict.target_rows += buckets->target_rows;
  for (auto* conn : {&*source, &*target}) (void)conn->exec("COMMIT");
  return {};
}

}  // namespace

const char* to_string(DiffKind k) {
  switch (k) {
    case DiffKind::Missing: return "missing";
    case DiffKind::Extra: return "extra";
    case DiffKind::Different: return "different";
    case DiffKind::DeadLetter: return "dead_letter";
    case DiffKind::Skipped: return "skipped";
  }
  return "?";
}

Result<VerifyReport> verify_tables(const config::PipelineConfig& cfg, const VerifyOptions& options) {
  std::vector<const config::TableName*> chosen;
  for (const auto& wanted : options.tables) {
    const config::TableName* hit = nullptr;
    for (const auto& name : cfg.source.tables) {
      const auto* m = cfg.mapping_for(name);
      if (name.qualified() == wanted || (m != nullptr && m->to.qualified() == wanted)) hit = &name;
    }
    if (hit == nullptr) {
      return Error{
          ErrorCode::InvalidArgument,
          fmt::format("--table {}: not a table of source.tables, nor the target of one (write schema.table)", wanted)};
    }
    if (std::find(chosen.begin(), chosen.end(), hit) == chosen.end()) chosen.push_back(hit);
  }
  if (options.tables.empty()) {
    for (const auto& name : cfg.source.tables) chosen.push_back(&name);
  }
  const auto began = std::chrono::steady_clock::now();
  auto probe = pq::Connection::connect(bare_target_options(cfg, "crmsync verify"));
  if (!probe) return probe.take_error();
  auto encoding = read_target_encoding(*probe);
  if (!encoding) return encoding.take_error();
  const Sessions sessions(cfg, *encoding);
  auto point = ComparisonPoint::take(cfg, sessions);
  if (!point) return point.take_error();
  VerifyReport report;
  report.point = (*point)->report();
  report.tables.resize(chosen.size());
  std::atomic<std::size_t> next{0};
  std::mutex failed_mutex;
  std::optional<Error> failed;  // a connection failure: the whole verify fails
  const auto worker = [&] {
    for (std::size_t i = next++; i < chosen.size(); i = next++) {
      const auto* name = chosen[i];
      auto& v = report.tables[i];
      v.source = name->qualified();
      const auto* m = cfg.mapping_for(*name);
      v.target = m != nullptr ? m->to.qualified() : name->qualified();
      const auto started = std::chrono::steady_clock::now();
      if (auto ok = verify_one(cfg, sessions, *name, options, **point, v); !ok) {
        if (ok.error().code == ErrorCode::ConnectionFailed) {
          std::lock_guard lock(failed_mutex);
          if (!failed) failed = ok.take_error();
          continue;
        }
        v.error = ok.error().message;
      }
      v.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    }
  };
  const auto threads = std::clamp<std::size_t>(static_cast<std::size_t>(cfg.snapshot.parallel), 1,
                                               std::max<std::size_t>(1, chosen.size()));
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (failed) return std::move(*failed);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  return report;
}

}  // namespace crmsync::daemon
