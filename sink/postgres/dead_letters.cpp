#include "sink/postgres/dead_letters.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "sink/postgres/copy_sink.hpp"

namespace crmsync::sink::postgres {
namespace {

using json = nlohmann::json;

// [[name, value-or-null], ...]: an array keeps the column order, which an object would not.
std::string row_json(const std::vector<std::pair<std::string, Value>>& row) {
  json out = json::array();
  for (const auto& [name, v] : row) {
    // An unchanged TOASTed value (not in the change) is kept as such, never as a NULL.
    const json value = v.kind == ValueKind::Text   ? json(v.text)
                       : v.kind == ValueKind::Null ? json(nullptr)
                                                   : json{{"unchanged_toast", true}};
    out.push_back(json::array({name, value}));
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::vector<std::pair<std::string, Value>> row_of(const std::string& text) {
  std::vector<std::pair<std::string, Value>> out;
  if (text.empty()) return out;
  for (const auto& pair : json::parse(text)) {
    const auto& v = pair.at(1);
    out.emplace_back(pair.at(0).get<std::string>(), v.is_null()     ? Value::null()
                                                    : v.is_object() ? Value::unchanged_toast()
                                                                    : Value::of(v.get<std::string>()));
  }
  return out;
}

std::string literal_or_null(const std::optional<std::string>& s) {
  return s ? pq::quote_literal(*s) : std::string("NULL");
}

}  // namespace

std::string_view to_string(LetterOp op) {
  switch (op) {
    case LetterOp::Insert: return "insert";
    case LetterOp::Update: return "update";
    case LetterOp::Delete: return "delete";
  }
  return "?";
}

std::string key_part(const std::string& column, const Value& v) {
  return fmt::format("{} = {}", pq::quote_ident(column),
                     v.kind == ValueKind::Text ? pq::quote_literal(v.text) : "NULL");
}

std::string insert_letter_sql(const std::string& pipeline, const DeadLetter& l) {
  return fmt::format(
      "INSERT INTO {}.dead_letters (pipeline, source_table, source_key, operation, lsn, copy_chunk, source_row, "
      "old_key, rule, column_name, reason) VALUES ({}, {}, {}, {}, {}, {}, {}::jsonb, {}::jsonb, {}, {}, {})",
      kStateSchema, pq::quote_literal(pipeline), pq::quote_literal(l.source_table), pq::quote_literal(l.key),
      pq::quote_literal(std::string(to_string(l.op))),
      literal_or_null(l.lsn ? std::optional<std::string>(l.lsn->to_string()) : std::nullopt) +
          (l.lsn ? "::pg_lsn" : ""),
      l.chunk ? std::to_string(*l.chunk) : std::string("NULL"), pq::quote_literal(row_json(l.row)),
      pq::quote_literal(row_json(l.old_key)), pq::quote_literal(l.rule), pq::quote_literal(l.column),
      pq::quote_literal(l.reason));
}

Result<std::map<std::string, std::set<std::string>>> dead_keys(pq::Connection& conn, const std::string& pipeline) {
  auto res = conn.exec_params(
      fmt::format("SELECT DISTINCT source_table, source_key FROM {}.dead_letters WHERE pipeline = $1", kStateSchema),
      {pipeline});
  if (!res) return res.take_error();
  std::map<std::string, std::set<std::string>> out;
  for (int i = 0; i < res->rows(); ++i) out[std::string(res->get(i, 0))].insert(std::string(res->get(i, 1)));
  return out;
}

Result<std::vector<StoredLetter>> list_letters(pq::Connection& conn, const std::string& pipeline,
                                               const std::string& table) {
  auto res = conn.exec_params(
      fmt::format("SELECT id, source_table, source_key, operation, lsn::text, copy_chunk, source_row::text, "
                  "old_key::text, rule, column_name, reason, to_char(created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MSOF') "
                  "FROM {}.dead_letters WHERE pipeline = $1 AND ($2 = '' OR source_table = $2) ORDER BY id",
                  kStateSchema),
      {pipeline, table});
  if (!res) return res.take_error();
  std::vector<StoredLetter> out;
  try {
    for (int i = 0; i < res->rows(); ++i) {
      StoredLetter s;
      s.id = std::stoll(std::string(res->get(i, 0)));
      auto& l = s.letter;
      l.source_table = res->get(i, 1);
      l.key = res->get(i, 2);
      const std::string op(res->get(i, 3));
      l.op = op == "update" ? LetterOp::Update : op == "delete" ? LetterOp::Delete : LetterOp::Insert;
      if (!res->is_null(i, 4)) {
        auto lsn = Lsn::parse(res->get(i, 4));
        if (!lsn) return lsn.take_error();
        l.lsn = *lsn;
      }
      if (!res->is_null(i, 5)) l.chunk = static_cast<std::uint32_t>(std::stoul(std::string(res->get(i, 5))));
      l.row = row_of(std::string(res->get(i, 6)));
      l.old_key = row_of(std::string(res->get(i, 7)));
      l.rule = res->get(i, 8);
      l.column = res->get(i, 9);
      l.reason = res->get(i, 10);
      s.created_at = res->get(i, 11);
      out.push_back(std::move(s));
    }
  } catch (const std::exception& e) {
    return Error{ErrorCode::Io, fmt::format("{}.dead_letters holds a malformed row: {}", kStateSchema, e.what())};
  }
  return out;
}

Result<std::int64_t> drop_letters(pq::Connection& conn, const std::string& pipeline, std::optional<std::int64_t> id) {
  // One letter, and the later letters of its key that wait behind it.
  auto res = id ? conn.exec_params(fmt::format("WITH first AS (SELECT source_table, source_key FROM {0}.dead_letters "
                                               "WHERE pipeline = $1 AND id = $2::bigint), gone AS (DELETE FROM "
                                               "{0}.dead_letters d USING first WHERE d.pipeline = $1 AND "
                                               "d.source_table = first.source_table AND d.source_key = "
                                               "first.source_key AND d.id >= $2::bigint RETURNING 1) "
                                               "SELECT count(*) FROM gone",
                                               kStateSchema),
                                   {pipeline, std::to_string(*id)})
                : conn.exec_params(fmt::format("WITH gone AS (DELETE FROM {}.dead_letters WHERE pipeline = $1 "
                                               "RETURNING 1) SELECT count(*) FROM gone",
                                               kStateSchema),
                                   {pipeline});
  if (!res) return res.take_error();
  return std::stoll(std::string(res->get(0, 0)));
}

}  // namespace crmsync::sink::postgres
