#pragma once
// The stream's writes to the target, through the table's mapping: a table whose mapping changes
// values (transforms, validators, defaults, splits, added columns) has its rows mapped by the
// same RowMapper as the copy, and its route (stream_routes.hpp) names the mapper's target
// columns; any other table's rows go to the applier as they are. A row the mapping refuses
// follows the mapping's on_invalid: a dead letter (in the batch's own transaction, and every
// later change to its key waits behind it as a letter too), skip (counted) or halt (a stop naming
// the table, key, LSN, rule and reason).

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "core/lsn.hpp"
#include "core/result.hpp"
#include "core/value.hpp"
#include "daemon/stream_routes.hpp"
#include "pq/connection.hpp"
#include "sink/postgres/applier.hpp"
#include "sink/postgres/dead_letters.hpp"

namespace crmsync::daemon {

/// The keys with dead letters, as the target holds them when a stream session starts, plus the
/// letters this session writes (a session that loses its target starts again from the target).
class DeadLetterQueue {
 public:
  static Result<DeadLetterQueue> load(pq::Connection& target, const std::string& pipeline);
  [[nodiscard]] bool holds(const std::string& table, const std::string& key) const;
  /// Whether any key of `table` is held: when none is (the usual case), a change need not build
  /// its key's text to find out whether it waits.
  [[nodiscard]] bool holds_any(const std::string& table) const;
  [[nodiscard]] bool empty() const { return keys_.empty() && pending_.empty(); }
  /// Writes `letter` in the applier's open transaction and holds its key from now on.
  Status record(sink::postgres::Applier& applier, const sink::postgres::DeadLetter& letter);
  /// The batch committed: its letters' keys are held for good.
  void commit();
  /// The batch rolled back, its letters with it: their keys are free again (the changes come
  /// again and are refused again, as letters of their own rule).
  void rollback();
  [[nodiscard]] std::int64_t recorded() const { return recorded_; }

 private:
  std::string pipeline_;
  std::map<std::string, std::set<std::string>> keys_;
  std::map<std::string, std::set<std::string>> pending_;  // written in the open batch
  std::int64_t recorded_ = 0;
  std::int64_t pending_count_ = 0;
};

struct WriteContext {
  sink::postgres::Applier& applier;
  pq::Connection& source;  // reads the values a change does not carry (unchanged TOAST)
  Lsn commit;              // of the source transaction, for messages
  std::int64_t& skipped;   // rows refused and skipped (on_invalid: skip)
  DeadLetterQueue& letters;
  mapping::LookupSource* lookups = nullptr;  // resolves `lookup:` columns (daemon/lookups.hpp)
};

Status write_insert(const CachedRelation& rel, const WriteContext& w, const Row& row);
Status write_update(const CachedRelation& rel, const WriteContext& w, sink::postgres::OldKind old_kind,
                    const Row& old_row, const Row& new_row);
Status write_remove(const CachedRelation& rel, const WriteContext& w, sink::postgres::OldKind old_kind,
                    const Row& old_row);

}  // namespace crmsync::daemon
