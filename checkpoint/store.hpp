#pragma once
// The daemon's durable state: pipeline phase, source identity, per-table copy plan and progress,
// the chunk log, the confirmed LSN and small named records. Backed by RocksDB, which stays out of
// this header (pimpl) so that no other module compiles against it.
//
// Reads return Result because the database is outside input: a record that does not decode is an
// Error naming the directory and key, never a crash and never mistaken for "nothing recorded"
// (a corrupt phase read as New would start a second copy over a populated target).

#include <compare>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/lsn.hpp"
#include "core/result.hpp"

namespace crmsync::checkpoint {

enum class Phase { New, Copying, Streaming };  // New = nothing recorded yet
std::string_view to_string(Phase);

// Which source cluster and slot this state belongs to. Refusing to resume against a different
// cluster depends on it.
struct SourceIdentity {
  std::string system_identifier{};  // IDENTIFY_SYSTEM systemid (decimal text)
  std::uint32_t timeline = 0;
  std::string slot{};
  std::string publication{};
  Lsn consistent_lsn{};  // the slot's consistent point

  friend bool operator==(const SourceIdentity&, const SourceIdentity&) = default;
};

enum class ChunkState { Pending, Done };
enum class ChunkKind { Whole, KeyRange, CtidRange };
std::string_view to_string(ChunkState);
std::string_view to_string(ChunkKind);

struct ChunkRecord {
  std::string table{};      // source table, qualified as written in config ("public.contacts")
  std::uint32_t index = 0;  // 0.. within the table
  ChunkKind kind = ChunkKind::Whole;
  std::optional<std::int64_t> lower{};  // inclusive lower bound (key or block), nullopt = unbounded
  std::optional<std::int64_t> upper{};  // exclusive upper bound, nullopt = unbounded
  ChunkState state = ChunkState::Pending;
  std::int64_t rows = 0;  // rows copied, when Done
  // The snapshot the chunk was copied at, when Done: "xmin:xmax:xip1,xip2 LSN", the xids it sees
  // and the source WAL position it was taken at (daemon/chunk_filter.hpp).
  std::string snapshot{};
  std::string key_column{};  // KeyRange: the source column the bounds are values of

  friend bool operator==(const ChunkRecord&, const ChunkRecord&) = default;
};

// One line of the append-only chunk log: every completed copy of a chunk, in order. A chunk that
// appears twice was copied twice (tests assert it never does).
struct ChunkLogEntry {
  std::uint64_t seq = 0;  // 1.. unique and increasing until clear()
  std::string table{};
  std::uint32_t index = 0;
  std::int64_t rows = 0;
  std::string snapshot{};
  std::int64_t unix_ms = 0;  // wall clock when recorded
};

// Thread-safe: any method may be called from several threads at once (copy workers, the apply
// loop, the HTTP status endpoint). Every write is synced to disk before it returns.
class Store {
 public:
  // Opens (creating if missing, with parent dirs) the RocksDB database in `dir`. A second process
  // opening the same dir gets an error saying another crmsync holds it (RocksDB's LOCK).
  static Result<std::unique_ptr<Store>> open(const std::string& dir);
  // Opens `dir` for reading only, without taking its LOCK, so that `crmsync check` can read the
  // state of a running daemon. A nullptr when `dir` holds no checkpoint (nothing ran yet); every
  // write returns an error.
  static Result<std::unique_ptr<Store>> open_read_only(const std::string& dir);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  [[nodiscard]] const std::string& dir() const;

  Result<Phase> phase() const;
  Status set_phase(Phase);

  Result<std::optional<SourceIdentity>> source_identity() const;
  Status set_source_identity(const SourceIdentity&);

  // Replaces the whole chunk plan of one table atomically: used when a table is planned or
  // re-planned. Existing chunk records of that table are deleted in the same batch. Every chunk
  // must name `table`; indexes must be unique.
  Status plan_table(const std::string& table, const std::vector<ChunkRecord>& chunks);
  Result<std::vector<ChunkRecord>> chunks() const;  // all tables, ordered by (table, index)
  Result<std::vector<ChunkRecord>> chunks(const std::string& table) const;

  // Marks a planned chunk Done and appends a ChunkLogEntry, in one synced batch. Marking a chunk
  // that is already Done is recorded again (the log tells the truth about double copies).
  Status mark_chunk_done(const std::string& table, std::uint32_t index, std::int64_t rows, const std::string& snapshot);
  Result<std::vector<ChunkLogEntry>> chunk_log() const;

  // Streaming position: last LSN durably applied to the target and confirmed. Never moves
  // backwards: a lower LSN than the recorded one is refused (it would mean re-applying on resume).
  Result<std::optional<Lsn>> confirmed_lsn() const;
  Status set_confirmed_lsn(Lsn);

  // Generic small key/value for later features (e.g. "cutover/..."). Values are stored verbatim.
  Status put_meta(const std::string& key, const std::string& value);
  Status erase_meta(const std::string& key);
  Result<std::optional<std::string>> get_meta(const std::string& key) const;

  // Removes every record (teardown). The directory itself stays; delete it after closing.
  Status clear();

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace crmsync::checkpoint
