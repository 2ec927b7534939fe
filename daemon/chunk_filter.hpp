#pragma once
// Exactness after a resumed copy (cdc/README.md, "Resume"): a chunk copied at a later snapshot
// already contains the effects of the source transactions that snapshot sees, and the stream,
// which starts at the slot's consistent point, replays them. This filter says, per change, which
// part is already in the target.
//
// Its bound is a WAL position, never an xid distance: each chunk records the source's WAL insert
// position just after its snapshot was taken, and a transaction whose commit record is at or past
// it cannot be in that snapshot. Only transactions committing before it are looked up by xid, and
// those are never more than a few transactions younger than the snapshot's xmax, so the 32-bit
// xid of pgoutput widens without ambiguity however old the cluster is. Chunks copied at the slot's
// own snapshot record the consistent point, where the stream starts: they never filter anything.
// A table leaves the filter once the stream passes the last of its positions, and the filter is
// empty for good once every table has.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "checkpoint/store.hpp"
#include "core/ids.hpp"
#include "core/lsn.hpp"
#include "core/result.hpp"

namespace crmsync::daemon {

/// pg_current_snapshot() text "xmin:xmax:xip,...", with 64-bit transaction ids.
struct XidSnapshot {
  std::uint64_t xmin = 0;
  std::uint64_t xmax = 0;
  std::set<std::uint64_t> xip;

  static Result<XidSnapshot> parse(const std::string& text);
  /// True when a committed transaction with this 32-bit id (as pgoutput sends it) is visible.
  /// Only meaningful for an xid within 2^31 of xmax: ChunkSnapshot asks only about those.
  [[nodiscard]] bool sees(Xid xid) const;
};

/// What a chunk record says about the snapshot it was copied at: "xmin:xmax:xip,... LSN".
struct ChunkSnapshot {
  XidSnapshot xids;
  Lsn taken_at;  // the source's WAL insert position just after the snapshot was taken

  static std::string text(const std::string& xid_snapshot, Lsn taken_at);
  static Result<ChunkSnapshot> parse(const std::string& text);
  /// Whether a committed source transaction (its xid, and the LSN of its commit record) is in it.
  [[nodiscard]] bool sees(Xid xid, Lsn commit) const { return commit < taken_at && xids.sees(xid); }
};

class ChunkFilter {
 public:
  /// The copied chunks of every table that has one taken past `start`, where the stream begins
  /// (all of that table's chunks, so that a TRUNCATE knows every range).
  static Result<ChunkFilter> load(const checkpoint::Store& store, Lsn start);

  /// Whether changes to `table` are filtered at all.
  [[nodiscard]] bool covers(const std::string& table) const { return tables_.contains(table); }
  /// For a table chunked by key ranges: the source column whose value places a row in a chunk.
  [[nodiscard]] const std::string* key_column(const std::string& table) const;

  /// Whether the chunk holding `key` (or the table, for tables not chunked by key) already
  /// reflects the transaction `xid` whose commit record is at `commit`.
  [[nodiscard]] bool copied_after(const std::string& table, std::optional<std::int64_t> key, Xid xid, Lsn commit) const;

  struct Range {
    std::optional<std::int64_t> lower;
    std::optional<std::int64_t> upper;
  };
  /// Key ranges of `table` whose chunk does NOT reflect the transaction (a TRUNCATE applies only
  /// to them); one unbounded range when the table is not filtered.
  [[nodiscard]] std::vector<Range> ranges_not_seeing(const std::string& table, Xid xid, Lsn commit) const;

  /// Drops the tables whose every snapshot was taken at or before `commit`: from a transaction
  /// committing there on (the stream is in commit order), nothing of theirs is filtered. Returns
  /// the tables dropped.
  std::vector<std::string> pass(Lsn commit);
  [[nodiscard]] bool empty() const { return tables_.empty(); }

 private:
  struct Chunk {
    std::optional<std::int64_t> lower;
    std::optional<std::int64_t> upper;
    ChunkSnapshot snapshot;
  };
  struct Table {
    std::string key_column;     // "" when not chunked by key: one snapshot for the whole table
    std::vector<Chunk> chunks;  // in key order
    Lsn last_taken_at;
  };
  std::map<std::string, Table> tables_;
};

}  // namespace crmsync::daemon
