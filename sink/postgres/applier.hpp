#pragma once
// The stream's target side: applies row changes with prepared statements in libpq pipeline mode
// (no round trip per row), several source transactions per target transaction, and records the
// applied position in crmsync.apply_progress in the same target transaction as the data.
//
// A target transaction is the pipeline's implicit transaction: everything up to the pipeline sync
// that commit() sends commits together, or not at all, with no BEGIN or COMMIT to pay for. When
// a sync is needed before that (every 512 statements, DDL, a catalog read) a BEGIN is sent first,
// which turns the implicit transaction, statements already run included, into an explicit one.
//
// The progress row is a fence: commit() advances it only from the position this Applier read or
// wrote last, and an UPDATE that finds anything else fails the whole transaction on the server,
// so a batch never commits without its position, and two daemons applying to one target cannot
// both commit.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/ids.hpp"
#include "core/lsn.hpp"
#include "core/relation.hpp"
#include "core/result.hpp"
#include "core/value.hpp"
#include "pq/connection.hpp"
#include "sink/postgres/change_buffer.hpp"
#include "sink/postgres/route.hpp"

namespace crmsync::sink::postgres {

enum class OldKind { None, Key, Full };

struct ApplyCounters {
  std::int64_t statements = 0;
  std::int64_t rows_not_found = 0;  // UPDATE/DELETE that matched no target row
  std::int64_t rows_extra = 0;      // target rows changed beyond one per source row (a non-unique key)
  std::int64_t merged = 0;          // changes absorbed into another change of the same key
  std::int64_t multirow_rows = 0;   // rows written by multi-row statements
};

/// Whether the target's own tables let a TRUNCATE of replicated ones through.
struct TruncateCheck {
  bool referenced = false;            // some foreign key from outside points into the tables
  std::vector<std::string> blockers;  // those with referencing rows: "crm.tasks (fk) references public.contacts"
};

class Applier {
 public:
  static Result<std::unique_ptr<Applier>> connect(const pq::ConnectOptions& target, std::string pipeline);
  ~Applier();

  /// The position recorded by the last committed apply transaction (nullopt: none yet). Must be
  /// called before the first commit(): the next commit advances the row from this position.
  Result<std::optional<Lsn>> applied_lsn();

  [[nodiscard]] bool in_transaction() const { return in_txn_; }
  /// Per-key compaction for routes that allow it (Route::compact()); the buffer is written out
  /// into the open transaction when it holds more than `max_bytes` or 1 MB, whichever is less, so
  /// memory stays bounded and the target works while the rest of the batch is gathered.
  void set_compaction(bool enabled, std::size_t max_bytes);
  Status begin();
  Status insert(const Route& route, const Row& row);
  Status update(const Route& route, OldKind old_kind, const Row& old_row, const Row& new_row);
  Status remove(const Route& route, OldKind old_kind, const Row& old_row);
  /// DELETE rows whose integer key is in [lower, upper) (used instead of TRUNCATE when part of a
  /// table was copied after the truncate: see cdc/README.md).
  Status remove_range(const Route& route, const std::string& key_column, std::optional<std::int64_t> lower,
                      std::optional<std::int64_t> upper);
  /// TRUNCATE of the routes' tables, never CASCADE: a target table outside them that references
  /// one is the new CRM's own (native logical replication does not cascade on the subscriber
  /// either); the caller checks that case first (check_truncate).
  Status truncate(const std::vector<const Route*>& routes, bool restart_identity);
  /// What TRUNCATE ... RESTART IDENTITY does to the sequences a table's columns own (identity and
  /// serial), for a table emptied by range DELETEs instead.
  Status restart_identity(const Route& route);
  /// Foreign keys of target tables outside `routes` into one of them.
  Result<TruncateCheck> check_truncate(const std::vector<const Route*>& routes);
  /// DELETE of every row: a TRUNCATE that a foreign key without referencing rows forbids.
  Status remove_all(const Route& route);
  /// Deallocates the prepared statements of routes of shape `shape` (a route replaced by one of
  /// another shape no longer uses them).
  Status forget_shape(std::uint64_t shape);
  /// Runs a statement synchronously inside the current transaction (schema changes).
  Status execute(const std::string& sql);
  /// Collects every queued result and leaves pipeline mode, so the caller can run ordinary
  /// queries (catalog reads) on the same connection and inside the same transaction.
  Result<pq::Connection*> synchronous();
  /// Records `end_lsn` as applied and commits; waits for every queued statement's result.
  /// `skipped`: rows of this batch a mapping refused under on_invalid: skip, added to the
  /// progress row's count in the same transaction.
  Status commit(Lsn end_lsn, std::int64_t skipped = 0);
  void rollback();

  [[nodiscard]] const ApplyCounters& counters() const { return counters_; }
  pq::Connection& connection() { return conn_; }

 private:
  explicit Applier(pq::Connection conn, std::string pipeline);
  // expect_rows > 0: the statement should affect that many rows (UPDATE/DELETE); fewer are counted
  // as not found. kProgress: the progress fence, whose failure gets its own message.
  static constexpr std::int64_t kProgress = -1;
  static constexpr std::int64_t kPrepare = -2;  // a Parse: forgotten again unless the server took it
  // A reference to a callable returning a statement's SQL, called only for a shape not prepared
  // yet (no std::function: it would allocate for every row).
  class SqlFn {
   public:
    template <typename F>
    SqlFn(const F& f)  // NOLINT(google-explicit-constructor): lambdas convert implicitly
        : obj_(&f), call_([](const void* o) { return (*static_cast<const F*>(o))(); }) {}
    std::string operator()() const { return call_(obj_); }

   private:
    const void* obj_;
    std::string (*call_)(const void*);
  };
  // Queues a prepared statement, preparing it first when `key` (the statement's shape) is new.
  // send_prepared() also collects results every 512 statements.
  Status queue_prepared(const std::string& key, SqlFn make_sql, const std::vector<const Value*>& params,
                        std::int64_t expect_rows);
  Status send_prepared(const std::string& key, SqlFn make_sql, const std::vector<const Value*>& params,
                       std::int64_t expect_rows);
  Status send_one_off(const std::string& sql);  // unnamed: DDL, TRUNCATE, range deletes
  Status enter_pipeline();
  Status sync(bool ends_transaction);  // pipeline sync and collect results
  Status explicit_transaction();       // BEGIN, so that a sync does not commit the batch
  Status fail(Error e);
  Error sending_failed();
  Status send_insert(const Route& route, const Row& row);
  Status send_update(const Route& route, OldKind old_kind, const Row& old_row, const Row& new_row);
  Status send_remove(const Route& route, OldKind old_kind, const Row& old_row);
  // Appends the row locator's columns and parameters for an UPDATE or DELETE to key_ and params_.
  Status locate(const Route& route, OldKind old_kind, const Row& old_row, const Row& new_row);
  Status flush_buffer();  // writes the buffered net changes (applier_flush.cpp)
  Status flush_if_full();
  Status write_group(const Route& route, NetKind kind, const std::vector<std::size_t>& columns,
                     const std::vector<const Row*>& rows);

  pq::Connection conn_;
  std::string pipeline_;
  bool in_txn_ = false;
  bool explicit_ = false;                                  // BEGIN sent in this transaction
  std::unordered_map<std::string, std::string> prepared_;  // statement shape -> prepared name
  std::uint64_t next_statement_ = 0;                       // names are never reused
  std::vector<std::int64_t> pending_expect_;               // per queued statement: rows it should affect (0: any)
  std::vector<std::string> pending_prepares_;              // keys of the Parse messages queued, in order
  bool progress_read_ = false;                             // applied_lsn() ran: progress_ is what the row holds
  std::optional<Lsn> progress_;                            // the progress row's position (nullopt: no row)
  // Scratch space reused by every statement, so that a row costs no allocations here.
  std::string key_;
  std::vector<const Value*> params_;
  std::vector<const char*> values_;
  std::vector<std::size_t> set_columns_;
  std::vector<std::size_t> where_columns_;
  bool compaction_ = false;
  std::size_t buffer_max_bytes_ = 0;
  ChangeBuffer buffer_;
  std::optional<Error> error_;
  ApplyCounters counters_;
};

}  // namespace crmsync::sink::postgres
