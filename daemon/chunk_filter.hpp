#pragma once
// Exactness after a resumed copy (cdc/README.md, "Resume"): a chunk copied at a later snapshot
// already contains the effects of the source transactions that snapshot sees, and the stream,
// which starts at the slot's consistent point, replays them. This filter says, per change, which
// part is already in the target. Chunks copied at the slot's own snapshot see no streamed
// transaction, so for a first-run copy it never skips anything.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "checkpoint/store.hpp"
#include "core/ids.hpp"
#include "core/result.hpp"

namespace crmsync::daemon {

/// pg_current_snapshot() text "xmin:xmax:xip,...", with 64-bit transaction ids.
struct XidSnapshot {
  std::uint64_t xmin = 0;
  std::uint64_t xmax = 0;
  std::set<std::uint64_t> xip;

  static Result<XidSnapshot> parse(const std::string& text);
  /// True when a committed transaction with this (32-bit, as pgoutput sends it) id is visible.
  [[nodiscard]] bool sees(Xid xid) const;
};

class ChunkFilter {
 public:
  /// From every copied chunk in the checkpoint.
  static Result<ChunkFilter> load(const checkpoint::Store& store);

  /// Whether the chunk holding `key` (or the table, for tables not chunked by key) already
  /// reflects transaction `xid`.
  [[nodiscard]] bool copied_after(const std::string& table, std::optional<std::int64_t> key, Xid xid) const;

  struct Range {
    std::optional<std::int64_t> lower;
    std::optional<std::int64_t> upper;
  };
  /// Key ranges of `table` whose chunk does NOT see `xid` (a TRUNCATE applies only to them).
  [[nodiscard]] std::vector<Range> ranges_not_seeing(const std::string& table, Xid xid) const;
  [[nodiscard]] bool empty() const { return tables_.empty(); }

 private:
  struct Chunk {
    std::optional<std::int64_t> lower;
    std::optional<std::int64_t> upper;
    XidSnapshot snapshot;
  };
  std::map<std::string, std::vector<Chunk>> tables_;  // chunks in key order
};

}  // namespace crmsync::daemon
