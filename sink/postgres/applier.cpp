#include "sink/postgres/applier.hpp"

#include <libpq-fe.h>

#include <cstdlib>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sink/postgres/copy_sink.hpp"

namespace crmsync::sink::postgres {
namespace {

// Results are collected at a pipeline sync every this many statements: enough to amortise the
// round trip, few enough that the server's results never fill the socket buffers while we send.
constexpr std::size_t kSyncEvery = 512;

std::string target_name(const Route& r) { return pq::quote_qualified(r.schema, r.table); }

// "col IS NOT DISTINCT FROM $n" for every written, sent column of the old row (REPLICA IDENTITY
// FULL), or "key = $n" for the key columns. Appends the values to `params`.
std::string where_clause(const Route& route, OldKind old_kind, const Row& old_row, const Row& new_row,
                         std::vector<const Value*>& params, std::string& shape, Status& problem) {
  std::vector<std::string> terms;
  if (route.full_identity) {
    for (std::size_t i = 0; i < old_row.size() && i < route.columns.size(); ++i) {
      if (route.columns[i].empty() || old_row[i].is_unchanged_toast()) continue;
      params.push_back(&old_row[i]);
      const auto col = pq::quote_ident(route.columns[i]);
      terms.push_back(fmt::format("{}{} IS NOT DISTINCT FROM ${}", col, route.compare_as_text[i] ? "::text" : "",
                                  params.size()));
      shape += fmt::format("f{},", i);
    }
    return fmt::format("ctid = (SELECT ctid FROM {} WHERE {} LIMIT 1)", target_name(route),
                       terms.empty() ? "true" : fmt::format("{}", fmt::join(terms, " AND ")));
  }
  const Row& source = old_kind == OldKind::None ? new_row : old_row;
  for (auto i : route.key) {
    if (i >= source.size() || source[i].is_unchanged_toast() || route.columns[i].empty()) {
      problem = Error{ErrorCode::ProtocolViolation,
                      fmt::format("{}: key column {} has no value in the change", target_name(route), i)};
      return "";
    }
    params.push_back(&source[i]);
    terms.push_back(fmt::format("{} = ${}", pq::quote_ident(route.columns[i]), params.size()));
    shape += fmt::format("k{},", i);
  }
  if (terms.empty()) {
    problem = Error{ErrorCode::StateMismatch,
                    fmt::format("{} has no replica identity key: cannot locate rows for UPDATE or DELETE "
                                "(add a primary key or set REPLICA IDENTITY FULL on the source)",
                                target_name(route))};
    return "";
  }
  return fmt::format("{}", fmt::join(terms, " AND "));
}

}  // namespace

Applier::Applier(pq::Connection conn, std::string pipeline) : conn_(std::move(conn)), pipeline_(std::move(pipeline)) {}

Applier::~Applier() = default;

Result<std::unique_ptr<Applier>> Applier::connect(const pq::ConnectOptions& target, std::string pipeline) {
  auto conn = pq::Connection::connect(target);
  if (!conn) return conn.take_error();
  if (auto ok = ensure_state_tables(*conn); !ok) return ok.take_error();
  auto made = conn->exec(fmt::format(
      "CREATE TABLE IF NOT EXISTS {}.apply_progress (pipeline text PRIMARY KEY, lsn pg_lsn NOT NULL, "
      "applied_at timestamptz NOT NULL DEFAULT now())",
      kStateSchema));
  if (!made) return made.take_error();
  auto applier = std::unique_ptr<Applier>(new Applier(std::move(conn).value(), std::move(pipeline)));
  return applier;
}

Result<std::optional<Lsn>> Applier::applied_lsn() {
  if (in_txn_) {
    return Error{ErrorCode::Internal, "applied_lsn() read inside an apply transaction"};
  }
  if (auto plain = synchronous(); !plain) return plain.take_error();
  auto res = conn_.exec_params(
      fmt::format("SELECT lsn::text FROM {}.apply_progress WHERE pipeline = $1", kStateSchema), {pipeline_});
  if (!res) return res.take_error();
  progress_row_ = res->rows() > 0;
  if (res->rows() == 0) return std::optional<Lsn>{};
  auto lsn = Lsn::parse(res->get(0, 0));
  if (!lsn) return lsn.take_error();
  return std::optional<Lsn>{*lsn};
}

Status Applier::fail(Error e) {
  if (!error_) error_ = e;
  return e;
}

Status Applier::send(const std::string& shape, const std::string& sql, const std::vector<const Value*>& params,
                     std::int64_t expect_rows) {
  if (error_) return *error_;
  if (PQpipelineStatus(conn_.raw()) == PQ_PIPELINE_OFF && PQenterPipelineMode(conn_.raw()) != 1) {
    return fail(Error{ErrorCode::ConnectionFailed,
                      fmt::format("cannot enter pipeline mode on {}: {}", conn_.description(),
                                  pq::one_line(PQerrorMessage(conn_.raw()))),
                      Retry::Yes});
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto* v : params) values.push_back(v->is_null() ? nullptr : v->text.c_str());
  // One-off statements (DDL, TRUNCATE, range deletes) go unnamed instead of filling the cache.
  const bool one_off = shape.starts_with("x|") || shape.starts_with("t|");
  if (one_off) {
    if (PQsendQueryParams(conn_.raw(), sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                          nullptr, 0) != 1) {
      return fail(Error{ErrorCode::ConnectionFailed,
                        fmt::format("sending to {}: {}", conn_.description(), pq::one_line(PQerrorMessage(conn_.raw()))),
                        Retry::Yes});
    }
    pending_expect_.push_back(expect_rows);
    if (pending_expect_.size() >= kSyncEvery) return sync();
    return {};
  }
  auto it = prepared_.find(shape);
  if (it == prepared_.end()) {
    const auto name = fmt::format("crmsync_{}", prepared_.size());
    if (PQsendPrepare(conn_.raw(), name.c_str(), sql.c_str(), static_cast<int>(params.size()), nullptr) != 1) {
      return fail(Error{ErrorCode::ConnectionFailed,
                        fmt::format("sending to {}: {}", conn_.description(), pq::one_line(PQerrorMessage(conn_.raw()))),
                        Retry::Yes});
    }
    pending_expect_.push_back(0);
    it = prepared_.emplace(shape, name).first;
  }
  if (PQsendQueryPrepared(conn_.raw(), it->second.c_str(), static_cast<int>(values.size()), values.data(), nullptr,
                          nullptr, 0) != 1) {
    return fail(Error{ErrorCode::ConnectionFailed,
                      fmt::format("sending to {}: {}", conn_.description(), pq::one_line(PQerrorMessage(conn_.raw()))),
                      Retry::Yes});
  }
  pending_expect_.push_back(expect_rows);
  ++counters_.statements;
  if (pending_expect_.size() >= kSyncEvery) return sync();
  return {};
}

Status Applier::sync() {
  if (PQpipelineSync(conn_.raw()) != 1) {
    return fail(Error{ErrorCode::ConnectionFailed,
                      fmt::format("pipeline sync on {}: {}", conn_.description(), pq::one_line(PQerrorMessage(conn_.raw()))),
                      Retry::Yes});
  }
  for (const auto expect : pending_expect_) {
    while (PGresult* r = PQgetResult(conn_.raw())) {
      const auto st = PQresultStatus(r);
      if (st == PGRES_FATAL_ERROR && !error_) {
        const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        const bool lost = PQstatus(conn_.raw()) != CONNECTION_OK || (state != nullptr && pq::retryable_sqlstate(state));
        error_ = Error{lost ? ErrorCode::ConnectionFailed : ErrorCode::QueryFailed,
                       fmt::format("apply failed on {}: {} (SQLSTATE {})", conn_.description(),
                                   pq::one_line(PQresultErrorMessage(r)), state != nullptr ? state : "?"),
                       lost ? Retry::Yes : Retry::No};
      } else if (st == PGRES_COMMAND_OK && expect == kExactlyOneRow && std::strcmp(PQcmdTuples(r), "1") != 0 &&
                 !error_) {
        error_ = Error{ErrorCode::StateMismatch,
                       fmt::format("{}.apply_progress on {} has no row for pipeline \"{}\" any more (was it deleted?); "
                                   "the applied position cannot be recorded",
                                   kStateSchema, conn_.description(), pipeline_)};
      } else if (st == PGRES_COMMAND_OK && expect > 0) {
        const auto affected = std::strtoll(PQcmdTuples(r), nullptr, 10);
        if (affected < expect) counters_.rows_not_found += expect - affected;
      }
      PQclear(r);
    }
    if (PQstatus(conn_.raw()) != CONNECTION_OK) break;
  }
  pending_expect_.clear();
  // The sync point's own result.
  if (PGresult* r = PQgetResult(conn_.raw())) {
    const bool synced = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    PQclear(r);
    if (!synced && !error_) {
      error_ = Error{ErrorCode::ProtocolViolation, fmt::format("pipeline out of step on {}", conn_.description())};
    }
  }
  if (PQstatus(conn_.raw()) != CONNECTION_OK && !error_) {
    error_ = Error{ErrorCode::ConnectionFailed,
                   fmt::format("connection to {} lost: {}", conn_.description(), pq::one_line(PQerrorMessage(conn_.raw()))),
                   Retry::Yes};
  }
  if (error_) return *error_;
  return {};
}

Status Applier::begin() {
  in_txn_ = true;
  return send("begin", "BEGIN", {}, 0);
}

Status Applier::send_insert(const Route& route, const Row& row) {
  std::vector<std::string> cols;
  std::vector<std::string> placeholders;
  std::vector<const Value*> params;
  std::string shape = "i|" + route.schema + "." + route.table + "|";
  for (std::size_t i = 0; i < row.size() && i < route.columns.size(); ++i) {
    if (route.columns[i].empty() || row[i].is_unchanged_toast()) continue;
    cols.push_back(pq::quote_ident(route.columns[i]));
    params.push_back(&row[i]);
    placeholders.push_back(fmt::format("${}", params.size()));
    shape += fmt::format("{},", i);
  }
  const auto sql = fmt::format("INSERT INTO {} ({}) VALUES ({})", target_name(route), fmt::join(cols, ", "),
                               fmt::join(placeholders, ", "));
  return send(shape, sql, params, 0);
}

Status Applier::send_update(const Route& route, OldKind old_kind, const Row& old_row, const Row& new_row) {
  std::vector<std::string> sets;
  std::vector<const Value*> params;
  std::string shape = "u|" + route.schema + "." + route.table + "|";
  for (std::size_t i = 0; i < new_row.size() && i < route.columns.size(); ++i) {
    // Unchanged TOAST values were not sent: leave the column alone, never write NULL over it.
    if (route.columns[i].empty() || new_row[i].is_unchanged_toast()) continue;
    params.push_back(&new_row[i]);
    sets.push_back(fmt::format("{} = ${}", pq::quote_ident(route.columns[i]), params.size()));
    shape += fmt::format("{},", i);
  }
  if (sets.empty()) return {};
  shape += "|";
  Status problem;
  const auto where = where_clause(route, old_kind, old_row, new_row, params, shape, problem);
  if (!problem) return fail(problem.error());
  return send(shape, fmt::format("UPDATE {} SET {} WHERE {}", target_name(route), fmt::join(sets, ", "), where),
              params, 1);
}

Status Applier::send_remove(const Route& route, OldKind old_kind, const Row& old_row) {
  std::vector<const Value*> params;
  std::string shape = "d|" + route.schema + "." + route.table + "|";
  Status problem;
  const auto where = where_clause(route, old_kind == OldKind::None ? OldKind::Key : old_kind, old_row, old_row,
                                  params, shape, problem);
  if (!problem) return fail(problem.error());
  return send(shape, fmt::format("DELETE FROM {} WHERE {}", target_name(route), where), params, 1);
}

Status Applier::remove_range(const Route& route, const std::string& key_column, std::optional<std::int64_t> lower,
                             std::optional<std::int64_t> upper) {
  const auto col = pq::quote_ident(key_column);
  std::string where = "true";
  if (lower) where += fmt::format(" AND {} >= {}", col, *lower);
  if (upper) where += fmt::format(" AND {} < {}", col, *upper);
  const auto sql = fmt::format("DELETE FROM {} WHERE {}", target_name(route), where);
  if (auto ok = flush_buffer(); !ok) return ok;
  return send("x|" + sql, sql, {}, 0);
}

Status Applier::truncate(const std::vector<const Route*>& routes, bool cascade, bool restart_identity) {
  std::vector<std::string> names;
  for (const auto* r : routes) names.push_back(target_name(*r));
  const auto sql = fmt::format("TRUNCATE {}{}{}", fmt::join(names, ", "), restart_identity ? " RESTART IDENTITY" : "",
                               cascade ? " CASCADE" : "");
  if (auto ok = flush_buffer(); !ok) return ok;
  return send("t|" + sql, sql, {}, 0);
}

Status Applier::execute(const std::string& sql) {
  if (auto ok = flush_buffer(); !ok) return ok;
  if (auto sent = send("x|" + sql, sql, {}, 0); !sent) return sent;
  return sync();
}

Result<pq::Connection*> Applier::synchronous() {
  if (auto ok = flush_buffer(); !ok) return ok.take_error();
  if (PQpipelineStatus(conn_.raw()) != PQ_PIPELINE_OFF) {
    if (!pending_expect_.empty()) {
      if (auto ok = sync(); !ok) return ok.take_error();
    }
    if (PQexitPipelineMode(conn_.raw()) != 1) {
      return fail(Error{ErrorCode::Internal, fmt::format("cannot leave pipeline mode on {}: {}", conn_.description(),
                                                         pq::one_line(PQerrorMessage(conn_.raw())))})
          .take_error();
    }
  }
  return &conn_;
}

Status Applier::commit(Lsn end_lsn) {
  const auto lsn_text = end_lsn.to_string();
  const Value pipeline = Value::of(pipeline_);
  const Value lsn = Value::of(lsn_text);
  auto recorded = flush_buffer();
  // Once the pipeline's row exists a plain UPDATE does (an upsert costs the target about twice as
  // much, once per commit); it must find the row, or the position would silently not be recorded.
  if (recorded && progress_row_) {
    recorded = send("progress-update",
                    fmt::format("UPDATE {}.apply_progress SET lsn = $2, applied_at = now() WHERE pipeline = $1",
                                kStateSchema),
                    {&pipeline, &lsn}, kExactlyOneRow);
  } else if (recorded) {
    recorded = send("progress",
                    fmt::format("INSERT INTO {}.apply_progress (pipeline, lsn, applied_at) VALUES ($1, $2, now()) "
                                "ON CONFLICT (pipeline) DO UPDATE SET lsn = excluded.lsn, applied_at = now()",
                                kStateSchema),
                    {&pipeline, &lsn}, 0);
  }
  if (recorded) recorded = send("commit", "COMMIT", {}, 0);
  if (recorded) recorded = sync();
  if (!recorded) {
    rollback();
    return recorded;
  }
  in_txn_ = false;
  progress_row_ = true;
  return {};
}

void Applier::rollback() {
  in_txn_ = false;
  buffer_.clear();
  if (PQstatus(conn_.raw()) != CONNECTION_OK) return;
  error_.reset();
  // After an error the rest of the pipeline was skipped, COMMIT included: end the transaction.
  if (send("rollback", "ROLLBACK", {}, 0)) (void)sync();
  error_.reset();
}

}  // namespace crmsync::sink::postgres
