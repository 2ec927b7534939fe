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

namespace crmsync::sink::postgres {

/// Where one source relation's rows go, column by column.
struct Route {
  std::string schema;
  std::string table;
  std::vector<std::string> columns;   // per source relation column: target column, "" = not written
  std::vector<std::size_t> key;       // source column indexes of the replica identity key
  bool full_identity = false;         // REPLICA IDENTITY FULL: locate rows by every old column
  std::vector<bool> compare_as_text;  // per column: no equality operator (json, xml, point...)
};

enum class OldKind { None, Key, Full };

struct ApplyCounters {
  std::int64_t statements = 0;
  std::int64_t rows_not_found = 0;  // UPDATE/DELETE that matched no target row
};

class Applier {
 public:
  static Result<std::unique_ptr<Applier>> connect(const pq::ConnectOptions& target, std::string pipeline);
  ~Applier();

  /// The position recorded by the last committed apply transaction (nullopt: none yet).
  Result<std::optional<Lsn>> applied_lsn();

  [[nodiscard]] bool in_transaction() const { return in_txn_; }
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
  Status send(const std::string& shape, const std::string& sql, const std::vector<const Value*>& params,
              bool count_rows);
  Status sync();  // pipeline sync and collect results
  Status fail(Error e);

  pq::Connection conn_;
  std::string pipeline_;
  bool in_txn_ = false;
  std::map<std::string, std::string> prepared_;  // statement shape -> prepared name
  std::vector<bool> pending_count_rows_;         // per queued statement: check rows affected
  std::optional<Error> error_;
  ApplyCounters counters_;
};

}  // namespace crmsync::sink::postgres
