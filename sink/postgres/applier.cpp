#include "sink/postgres/applier.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "sink/postgres/copy_sink.hpp"
#include "sink/postgres/statements.hpp"

namespace crmsync::sink::postgres {
namespace {

// Results are collected at a pipeline sync every this many statements: enough to amortise the
// round trip, few enough that the server's results never fill the socket buffers while we send.
constexpr std::size_t kSyncEvery = 512;

bool written(const Route& route, const Row& row, std::size_t i) {
  return !route.columns[i].empty() && !row[i].is_unchanged_toast();
}

}  // namespace

Applier::Applier(pq::Connection conn, std::string pipeline) : conn_(std::move(conn)), pipeline_(std::move(pipeline)) {}

Applier::~Applier() = default;

Result<std::unique_ptr<Applier>> Applier::connect(const pq::ConnectOptions& target, std::string pipeline) {
  auto conn = pq::Connection::connect(target);
  if (!conn) return conn.take_error();
  if (auto ok = ensure_state_tables(*conn); !ok) return ok.take_error();
  auto applier = std::unique_ptr<Applier>(new Applier(std::move(conn).value(), std::move(pipeline)));
  return applier;
}

Result<std::optional<Lsn>> Applier::applied_lsn() {
  if (in_txn_) {
    return Error{ErrorCode::Internal, "applied_lsn() read inside an apply transaction"};
  }
  if (auto plain = synchronous(); !plain) return plain.take_error();
  auto res = conn_.exec_params(fmt::format("SELECT lsn::text FROM {}.apply_progress WHERE pipeline = $1", kStateSchema),
                               {pipeline_});
  if (!res) return res.take_error();
  progress_read_ = true;
  progress_.reset();
  if (res->rows() == 0) return std::optional<Lsn>{};
  auto lsn = Lsn::parse(res->get(0, 0));
  if (!lsn) return lsn.take_error();
  progress_ = *lsn;
  return std::optional<Lsn>{*lsn};
}

Status Applier::fail(Error e) {
  if (!error_) error_ = e;
  return e;
}

Error Applier::sending_failed() {
  auto e = Error{ErrorCode::ConnectionFailed,
                 fmt::format("sending to {}: {}", conn_.description(), pq::one_line(PQerrorMessage(conn_.raw()))),
                 Retry::Yes};
  if (!error_) error_ = e;
  return e;
}

Status Applier::enter_pipeline() {
  if (error_) return *error_;
  if (PQpipelineStatus(conn_.raw()) != PQ_PIPELINE_OFF || PQenterPipelineMode(conn_.raw()) == 1) return {};
  return fail(Error{ErrorCode::ConnectionFailed,
                    fmt::format("cannot enter pipeline mode on {}: {}", conn_.description(),
                                pq::one_line(PQerrorMessage(conn_.raw()))),
                    Retry::Yes});
}

Status Applier::queue_prepared(const std::string& key, SqlFn make_sql, const std::vector<const Value*>& params,
                               std::int64_t expect_rows) {
  if (auto ok = enter_pipeline(); !ok) return ok;
  values_.clear();
  for (const auto* v : params) values_.push_back(v->is_null() ? nullptr : v->text.c_str());
  auto it = prepared_.find(key);
  if (it == prepared_.end()) {
    auto name = fmt::format("crmsync_{}", next_statement_++);
    const auto sql = make_sql();
    if (PQsendPrepare(conn_.raw(), name.c_str(), sql.c_str(), static_cast<int>(params.size()), nullptr) != 1) {
      return sending_failed();
    }
    pending_expect_.push_back(kPrepare);
    pending_prepares_.push_back(key);
    it = prepared_.emplace(key, std::move(name)).first;
  }
  if (PQsendQueryPrepared(conn_.raw(), it->second.c_str(), static_cast<int>(values_.size()), values_.data(), nullptr,
                          nullptr, 0) != 1) {
    return sending_failed();
  }
  pending_expect_.push_back(expect_rows);
  ++counters_.statements;
  return {};
}

Status Applier::send_prepared(const std::string& key, SqlFn make_sql, const std::vector<const Value*>& params,
                              std::int64_t expect_rows) {
  if (auto ok = queue_prepared(key, make_sql, params, expect_rows); !ok) return ok;
  if (pending_expect_.size() >= kSyncEvery) return sync(false);
  return {};
}

Status Applier::send_one_off(const std::string& sql) {
  if (auto ok = enter_pipeline(); !ok) return ok;
  if (PQsendQueryParams(conn_.raw(), sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) != 1) {
    return sending_failed();
  }
  pending_expect_.push_back(0);
  if (pending_expect_.size() >= kSyncEvery) return sync(false);
  return {};
}

Status Applier::explicit_transaction() {
  if (!in_txn_ || explicit_) return {};
  // BEGIN after statements of the implicit transaction makes it explicit, those statements
  // included, so the sync that follows does not commit them.
  if (auto ok = queue_prepared(
          "begin", [] { return std::string("BEGIN"); }, {}, 0);
      !ok)
    return ok;
  explicit_ = true;
  return {};
}

Status Applier::sync(bool ends_transaction) {
  if (!ends_transaction) {
    if (auto ok = explicit_transaction(); !ok) return ok;
  }
  if (PQpipelineSync(conn_.raw()) != 1) {
    return fail(
        Error{ErrorCode::ConnectionFailed,
              fmt::format("pipeline sync on {}: {}", conn_.description(), pq::one_line(PQerrorMessage(conn_.raw()))),
              Retry::Yes});
  }
  std::size_t prepares = 0;
  for (const auto expect : pending_expect_) {
    bool prepared = false;
    while (PGresult* r = PQgetResult(conn_.raw())) {
      const auto st = PQresultStatus(r);
      if (expect == kPrepare && st == PGRES_COMMAND_OK) prepared = true;
      if (st == PGRES_FATAL_ERROR && !error_) {
        const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        const std::string_view code = state != nullptr ? state : "?";
        const bool lost = PQstatus(conn_.raw()) != CONNECTION_OK || pq::retryable_sqlstate(code);
        if (expect == kProgress && (code == "22012" || code == "23505")) {
          // The fence: the row no longer holds what this Applier read or wrote last.
          error_ = Error{ErrorCode::StateMismatch,
                         fmt::format("{0}.apply_progress on {1} does not hold the position this daemon applied last "
                                     "({2}) for pipeline \"{3}\": another crmsync is applying to this target, or the "
                                     "row was changed by hand; this batch was rolled back. Stop any other crmsync "
                                     "with this name, check SELECT * FROM {0}.apply_progress WHERE pipeline = '{3}', "
                                     "then start crmsync again: it resumes from what that row says",
                                     kStateSchema, conn_.description(),
                                     progress_ ? progress_->to_string() : std::string("no row"), pipeline_)};
        } else {
          error_ =
              Error{lost ? ErrorCode::ConnectionFailed : ErrorCode::QueryFailed,
                    fmt::format("apply failed on {}: {} (SQLSTATE {})", conn_.description(), pq::server_error(r), code),
                    lost ? Retry::Yes : Retry::No};
        }
      } else if (st == PGRES_COMMAND_OK && expect > 0) {
        const auto affected = std::strtoll(PQcmdTuples(r), nullptr, 10);
        if (affected < expect) counters_.rows_not_found += expect - affected;
        if (affected > expect) {
          // A key that is not unique on the target (a partitioned target whose key differs per
          // partition, a missing constraint): one source row changed several target rows.
          if (counters_.rows_extra == 0) {
            spdlog::warn(
                "a statement on {} changed {} rows where the source changed {}: the target's key is not "
                "unique; the target now differs from the source (counted in the stop line)",
                conn_.description(), affected, expect);
          }
          counters_.rows_extra += affected - expect;
        }
      }
      PQclear(r);
    }
    // A Parse skipped after an error (or refused) left no statement behind: prepare it again.
    if (expect == kPrepare && !prepared) prepared_.erase(pending_prepares_[prepares]);
    if (expect == kPrepare) ++prepares;
    if (PQstatus(conn_.raw()) != CONNECTION_OK) break;
  }
  // Those not reached (the connection broke) are gone with the connection's session anyway.
  pending_expect_.clear();
  pending_prepares_.clear();
  // The sync point's own result.
  if (PGresult* r = PQgetResult(conn_.raw())) {
    const bool synced = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    // A server that goes away mid-sync (an immediate shutdown, a crash) leaves an error here that
    // libpq made itself (no SQLSTATE) or a retryable one, sometimes before the connection status
    // says so: that is a lost connection, not a protocol fault.
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const bool lost = PQstatus(conn_.raw()) != CONNECTION_OK ||
                      (PQresultStatus(r) == PGRES_FATAL_ERROR && (state == nullptr || pq::retryable_sqlstate(state)));
    const auto why = pq::one_line(PQresultErrorMessage(r));
    PQclear(r);
    if (!synced && !error_) {
      error_ =
          lost ? Error{ErrorCode::ConnectionFailed,
                       fmt::format("connection to {} lost during commit: {}", conn_.description(), why), Retry::Yes}
               : Error{ErrorCode::ProtocolViolation, fmt::format("pipeline out of step on {}", conn_.description())};
    }
  }
  if (PQstatus(conn_.raw()) != CONNECTION_OK && !error_) {
    error_ =
        Error{ErrorCode::ConnectionFailed,
              fmt::format("connection to {} lost: {}", conn_.description(), pq::one_line(PQerrorMessage(conn_.raw()))),
              Retry::Yes};
  }
  if (error_) return *error_;
  return {};
}

Status Applier::begin() {
  if (error_) return *error_;
  in_txn_ = true;
  explicit_ = false;
  return {};
}

Status Applier::send_insert(const Route& route, const Row& row) {
  params_.clear();
  set_columns_.clear();
  for (std::size_t i = 0; i < row.size() && i < route.columns.size(); ++i) {
    if (!written(route, row, i)) continue;
    set_columns_.push_back(i);
    params_.push_back(&row[i]);
  }
  shape_key(key_, 'i', route);
  shape_key_columns(key_, set_columns_);
  return send_prepared(
      key_, [&] { return insert_sql(route, set_columns_); }, params_, 0);
}

Status Applier::locate(const Route& route, OldKind old_kind, const Row& old_row, const Row& new_row) {
  where_columns_.clear();
  if (route.full_identity) {
    for (std::size_t i = 0; i < old_row.size() && i < route.columns.size(); ++i) {
      if (!written(route, old_row, i)) continue;
      where_columns_.push_back(i);
      params_.push_back(&old_row[i]);
    }
    key_.push_back('f');
    shape_key_columns(key_, where_columns_);
    return {};
  }
  const Row& source = old_kind == OldKind::None ? new_row : old_row;
  if (route.key.empty()) {
    return fail(Error{ErrorCode::StateMismatch,
                      fmt::format("{} has no replica identity key: cannot locate rows for UPDATE or DELETE "
                                  "(add a primary key or set REPLICA IDENTITY FULL on the source)",
                                  pq::quote_qualified(route.schema, route.table))});
  }
  for (const auto i : route.key) {
    if (i >= source.size() || source[i].is_unchanged_toast() || route.columns[i].empty()) {
      return fail(Error{ErrorCode::ProtocolViolation, fmt::format("{}: key column {} has no value in the change",
                                                                  pq::quote_qualified(route.schema, route.table), i)});
    }
    where_columns_.push_back(i);
    params_.push_back(&source[i]);
  }
  key_.push_back('k');
  shape_key_columns(key_, where_columns_);
  return {};
}

Status Applier::send_update(const Route& route, OldKind old_kind, const Row& old_row, const Row& new_row) {
  params_.clear();
  set_columns_.clear();
  // Without an old tuple the key did not change: leave it out of SET, as a GENERATED ALWAYS
  // identity key may only be "updated" to DEFAULT (428C9), and an unchanged key costs index work.
  const bool key_unchanged = old_kind == OldKind::None && !route.full_identity;
  for (std::size_t i = 0; i < new_row.size() && i < route.columns.size(); ++i) {
    // Unchanged TOAST values were not sent: leave the column alone, never write NULL over it.
    if (!written(route, new_row, i)) continue;
    if (key_unchanged && std::find(route.key.begin(), route.key.end(), i) != route.key.end()) continue;
    set_columns_.push_back(i);
    params_.push_back(&new_row[i]);
  }
  if (set_columns_.empty()) return {};
  shape_key(key_, 'u', route);
  shape_key_columns(key_, set_columns_);
  if (auto ok = locate(route, old_kind, old_row, new_row); !ok) return ok;
  return send_prepared(
      key_, [&] { return update_sql(route, set_columns_, where_columns_); }, params_, 1);
}

Status Applier::send_remove(const Route& route, OldKind old_kind, const Row& old_row) {
  params_.clear();
  shape_key(key_, 'd', route);
  if (auto ok = locate(route, old_kind == OldKind::None ? OldKind::Key : old_kind, old_row, old_row); !ok) return ok;
  return send_prepared(
      key_, [&] { return delete_sql(route, where_columns_); }, params_, 1);
}

Status Applier::remove_range(const Route& route, const std::string& key_column, std::optional<std::int64_t> lower,
                             std::optional<std::int64_t> upper) {
  const auto col = pq::quote_ident(key_column);
  std::string where = route.owned.empty() ? std::string("true") : "(" + route.owned + ")";
  if (lower) where += fmt::format(" AND {} >= {}", col, *lower);
  if (upper) where += fmt::format(" AND {} < {}", col, *upper);
  if (auto ok = flush_buffer(); !ok) return ok;
  return send_one_off(fmt::format("DELETE FROM {} WHERE {}", pq::quote_qualified(route.schema, route.table), where));
}

Status Applier::truncate(const std::vector<const Route*>& routes, bool restart_identity) {
  std::vector<std::string> names;
  names.reserve(routes.size());
  for (const auto* r : routes) names.push_back(pq::quote_qualified(r->schema, r->table));
  if (auto ok = flush_buffer(); !ok) return ok;
  return send_one_off(
      fmt::format("TRUNCATE {}{}", fmt::join(names, ", "), restart_identity ? " RESTART IDENTITY" : ""));
}

Status Applier::forget_shape(std::uint64_t shape) {
  for (auto it = prepared_.begin(); it != prepared_.end();) {
    if (!key_has_shape(it->first, shape)) {
      ++it;
      continue;
    }
    if (auto ok = send_one_off(fmt::format("DEALLOCATE {}", it->second)); !ok) return ok;
    it = prepared_.erase(it);
  }
  return {};
}

Status Applier::restart_identity(const Route& route) {
  if (auto ok = flush_buffer(); !ok) return ok;
  // Sequences owned by the table's columns: 'a' (serial, OWNED BY) and 'i' (identity).
  return send_one_off(fmt::format(
      "SELECT setval(d.objid::regclass, s.seqstart, false) FROM pg_depend d JOIN pg_sequence s ON s.seqrelid = "
      "d.objid WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = "
      "{}::regclass AND d.deptype IN ('a', 'i')",
      pq::quote_literal(pq::quote_qualified(route.schema, route.table))));
}

Result<TruncateCheck> Applier::check_truncate(const std::vector<const Route*>& routes) {
  std::vector<std::string> names;
  names.reserve(routes.size());
  for (const auto* r : routes)
    names.push_back(pq::quote_literal(pq::quote_qualified(r->schema, r->table)) + "::regclass");
  auto conn = synchronous();
  if (!conn) return conn.take_error();
  const auto set = fmt::format("ARRAY[{}]", fmt::join(names, ", "));
  auto res = (*conn)->exec(fmt::format(
      "SELECT format('%I.%I (%s) references %I.%I', fn.nspname, f.relname, c.conname, tn.nspname, t.relname), "
      "format('SELECT EXISTS (SELECT 1 FROM %I.%I WHERE ROW(%s) IS NOT NULL)', fn.nspname, f.relname, "
      "(SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY "
      "k(attnum, ord) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum)) FROM pg_constraint c "
      "JOIN pg_class f ON f.oid = c.conrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace JOIN pg_class t ON t.oid "
      "= c.confrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace WHERE c.contype = 'f' AND c.conparentid = 0 AND "
      "c.confrelid = ANY ({0}) AND NOT c.conrelid = ANY ({0}) ORDER BY 1",
      set));
  if (!res) return res.take_error();
  TruncateCheck out;
  for (int i = 0; i < res->rows(); ++i) {
    out.referenced = true;
    // MATCH SIMPLE: a row references only when every column of its key is set.
    auto used = (*conn)->exec(std::string(res->get(i, 1)));
    if (!used) return used.take_error();
    if (used->get(0, 0) == "t") out.blockers.emplace_back(res->get(i, 0));
  }
  return out;
}

Status Applier::remove_all(const Route& route) {
  if (auto ok = flush_buffer(); !ok) return ok;
  return send_one_off(fmt::format("DELETE FROM {}{}{}", pq::quote_qualified(route.schema, route.table),
                                  route.owned.empty() ? "" : " WHERE ", route.owned));
}

Status Applier::execute(const std::string& sql) {
  if (auto ok = flush_buffer(); !ok) return ok;
  if (auto sent = send_one_off(sql); !sent) return sent;
  return sync(false);
}

Result<pq::Connection*> Applier::synchronous() {
  if (auto ok = flush_buffer(); !ok) return ok.take_error();
  if (in_txn_) {
    // Plain queries next: the batch so far must not be committed by them or by the sync.
    if (auto ok = enter_pipeline(); !ok) return ok.take_error();
    if (auto ok = explicit_transaction(); !ok) return ok.take_error();
  }
  if (PQpipelineStatus(conn_.raw()) != PQ_PIPELINE_OFF) {
    if (!pending_expect_.empty()) {
      if (auto ok = sync(false); !ok) return ok.take_error();
    }
    if (PQexitPipelineMode(conn_.raw()) != 1) {
      return fail(Error{ErrorCode::Internal, fmt::format("cannot leave pipeline mode on {}: {}", conn_.description(),
                                                         pq::one_line(PQerrorMessage(conn_.raw())))})
          .take_error();
    }
  }
  return &conn_;
}

Status Applier::commit(Lsn end_lsn, std::int64_t skipped) {
  if (!progress_read_) {
    return fail(Error{ErrorCode::Internal, "Applier::commit() before applied_lsn(): the progress fence is unknown"});
  }
  const auto lsn_text = end_lsn.to_string();
  const auto from_text = progress_ ? progress_->to_string() : std::string();
  const Value pipeline = Value::of(pipeline_);
  const Value lsn = Value::of(lsn_text);
  const Value from = Value::of(from_text);
  const Value skipped_rows = Value::of(std::to_string(skipped));
  auto recorded = flush_buffer();
  if (recorded && progress_) {
    // Advances the row only from the position read or written last; otherwise 1/0 fails the
    // statement on the server, and with it the whole transaction, before anything commits.
    recorded = queue_prepared(
        "progress-advance",
        [] {
          return fmt::format(
              "WITH advanced AS (UPDATE {}.apply_progress SET lsn = $3, applied_at = now(), skipped = skipped + "
              "$4::bigint WHERE pipeline = $1 AND lsn = $2 RETURNING 1) SELECT 1 / count(*) FROM advanced",
              kStateSchema);
        },
        {&pipeline, &from, &lsn, &skipped_rows}, kProgress);
  } else if (recorded) {
    // A plain INSERT: a row some other daemon wrote meanwhile is a unique violation, not overwritten.
    recorded = queue_prepared(
        "progress-insert",
        [] {
          return fmt::format(
              "INSERT INTO {}.apply_progress (pipeline, lsn, applied_at, skipped) VALUES ($1, $2, now(), $3::bigint)",
              kStateSchema);
        },
        {&pipeline, &lsn, &skipped_rows}, kProgress);
  }
  if (recorded && explicit_)
    recorded = queue_prepared(
        "commit", [] { return std::string("COMMIT"); }, {}, 0);
  if (recorded) recorded = sync(true);
  if (!recorded) {
    // A COMMIT that failed (a deferred constraint, a trigger at commit) ended the transaction
    // block itself: rollback() then opens one to end, and the server logs no warning.
    if (pending_expect_.empty() && PQtransactionStatus(conn_.raw()) == PQTRANS_IDLE) explicit_ = false;
    rollback();
    return recorded;
  }
  in_txn_ = false;
  explicit_ = false;
  progress_ = end_lsn;
  return {};
}

void Applier::rollback() {
  in_txn_ = false;
  buffer_.clear();
  if (PQstatus(conn_.raw()) != CONNECTION_OK) {
    explicit_ = false;
    return;
  }
  error_.reset();
  // After an error the rest of the pipeline was skipped, COMMIT included: end the transaction.
  // BEGIN first when the transaction is implicit (or already ended by a sync), so that ROLLBACK
  // always finds a transaction block and the server logs no warning.
  if (!explicit_)
    (void)queue_prepared(
        "begin", [] { return std::string("BEGIN"); }, {}, 0);
  explicit_ = false;
  if (queue_prepared(
          "rollback", [] { return std::string("ROLLBACK"); }, {}, 0))
    (void)sync(true);
  error_.reset();
  // A ROLLBACK queued behind a failed statement that no sync had reached yet is skipped by the
  // server, and a sync does not end an explicit transaction block: the session would stay in an
  // aborted block and the next batch fail with 25P02. Whatever was skipped, leave here outside
  // any transaction.
  const auto status = PQtransactionStatus(conn_.raw());
  if ((status == PQTRANS_INERROR || status == PQTRANS_INTRANS) && PQexitPipelineMode(conn_.raw()) == 1) {
    PQclear(PQexec(conn_.raw(), "ROLLBACK"));
  }
}

}  // namespace crmsync::sink::postgres
