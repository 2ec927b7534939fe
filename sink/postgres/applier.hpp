#pragma once
// The stream's target side: applies row changes with prepared statements in libpq pipeline mode
// (no round trip per row), several source transactions per target transaction, and records the
// applied position in crmsync.apply_progress in the same target transaction as the data.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
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
  std::int64_t merged = 0;          // changes absorbed into another change of the same key
  std::int64_t multirow_rows = 0;   // rows written by multi-row statements
};

class Applier {
 public:
  static Result<std::unique_ptr<Applier>> connect(const pq::ConnectOptions& target, std::string pipeline);
  ~Applier();

  /// The position recorded by the last committed apply transaction (nullopt: none yet).
  Result<std::optional<Lsn>> applied_lsn();

  [[nodiscard]] bool in_transaction() const { return in_txn_; }
  /// Per-key compaction for routes that allow it (Route::compact()); the buffer is written out
  /// when it holds more than `max_bytes`, so memory stays bounded inside one big transaction.
  void set_compaction(bool enabled, std::size_t max_bytes);
  Status begin();
  Status insert(const Route& route, const Row& row);
  Status update(const Route& route, OldKind old_kind, const Row& old_row, const Row& new_row);
  Status remove(const Route& route, OldKind old_kind, const Row& old_row);
  /// DELETE rows whose integer key is in [lower, upper) (used instead of TRUNCATE when part of a
  /// table was copied after the truncate: see cdc/README.md).
  Status remove_range(const Route& route, const std::string& key_column, std::optional<std::int64_t> lower,
                      std::optional<std::int64_t> upper);
  Status truncate(const std::vector<const Route*>& routes, bool cascade, bool restart_identity);
  /// Runs a statement synchronously inside the current transaction (schema changes).
  Status execute(const std::string& sql);
  /// Collects every queued result and leaves pipeline mode, so the caller can run ordinary
  /// queries (catalog reads) on the same connection and inside the same transaction.
  Result<pq::Connection*> synchronous();
  /// Records `end_lsn` as applied and commits; waits for every queued statement's result.
  Status commit(Lsn end_lsn);
  void rollback();

  [[nodiscard]] const ApplyCounters& counters() const { return counters_; }
  pq::Connection& connection() { return conn_; }

 private:
  explicit Applier(pq::Connection conn, std::string pipeline);
  // expect_rows > 0: the statement should affect that many rows (UPDATE/DELETE); fewer are counted
  // as not found. kExactlyOneRow: anything but one row is an error.
  static constexpr std::int64_t kExactlyOneRow = -1;
  Status send(const std::string& shape, const std::string& sql, const std::vector<const Value*>& params,
              std::int64_t expect_rows);
  Status sync();  // pipeline sync and collect results
  Status fail(Error e);
  Status send_insert(const Route& route, const Row& row);
  Status send_update(const Route& route, OldKind old_kind, const Row& old_row, const Row& new_row);
  Status send_remove(const Route& route, OldKind old_kind, const Row& old_row);
  Status flush_buffer();  // writes the buffered net changes (applier_flush.cpp)
  Status flush_if_full();
  Status write_group(const Route& route, NetKind kind, const std::vector<std::size_t>& columns,
                     const std::vector<const Row*>& rows);

  pq::Connection conn_;
  std::string pipeline_;
  bool in_txn_ = false;
  std::map<std::string, std::string> prepared_;  // statement shape -> prepared name
  std::vector<std::int64_t> pending_expect_;     // per queued statement: rows it should affect (0: any)
  bool progress_row_ = false;  // crmsync.apply_progress has this pipeline's row
  bool compaction_ = false;
  std::size_t buffer_max_bytes_ = 0;
  ChangeBuffer buffer_;
  std::optional<Error> error_;
  ApplyCounters counters_;
};

}  // namespace crmsync::sink::postgres
