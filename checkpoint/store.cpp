#include "checkpoint/store.hpp"

#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <set>
#include <tuple>
#include <utility>

#include "checkpoint/records.hpp"

namespace crmsync::checkpoint {

namespace rec = records;

struct Store::Impl {
  std::string dir;
  std::unique_ptr<rocksdb::DB> db;
  // RocksDB calls are thread-safe on their own; this mutex makes read-modify-write sequences
  // (plan, mark done, LSN monotonicity, clear) atomic and hands out unique chunk log numbers.
  std::mutex write_mutex;
  std::uint64_t next_seq = 1;  // guarded by write_mutex

  [[nodiscard]] Error io(std::string_view what, const rocksdb::Status& s) const {
    return Error{ErrorCode::Io, fmt::format("checkpoint {}: {}: {}", dir, what, s.ToString())};
  }
  [[nodiscard]] Error corrupt(std::string_view key, std::string_view why) const {
    return Error{ErrorCode::Io, fmt::format("checkpoint {}: corrupt record {}: {}", dir, key, why)};
  }

  [[nodiscard]] Result<std::optional<std::string>> get(std::string_view key) const {
    std::string value;
    auto s = db->Get(rocksdb::ReadOptions{}, rocksdb::Slice(key.data(), key.size()), &value);
    if (s.IsNotFound()) return std::optional<std::string>{};
    if (!s.ok()) return io(fmt::format("read {}", key), s);
    return std::optional<std::string>{std::move(value)};
  }

  // Reads and decodes one record; nullopt when absent.
  template <typename T, typename Decode>
  Result<std::optional<T>> get_decoded(std::string_view key, Decode decode) const {
    auto raw = get(key);
    if (!raw) return raw.take_error();
    if (!raw->has_value()) return std::optional<T>{};
    auto decoded = decode(**raw);
    if (!decoded) return corrupt(key, decoded.error().message);
    return std::optional<T>{std::move(*decoded)};
  }

  // Every write is synced: each one records progress that, if lost in a crash, would make the
  // daemon copy a chunk twice, re-apply changes, or resume against the wrong slot.
  // Not const although it changes nothing in Impl: it changes the database.
  Status write(rocksdb::WriteBatch& batch, std::string_view what) {  // NOLINT(readability-make-member-function-const)
    rocksdb::WriteOptions options;
    options.sync = true;
    auto s = db->Write(options, &batch);
    if (!s.ok()) return io(fmt::format("write {}", what), s);
    return {};
  }

  Status put(std::string_view key, const Result<std::string>& value) {
    if (!value) return Error{value.error().code, fmt::format("checkpoint {}: {}: {}", dir, key, value.error().message)};
    rocksdb::WriteBatch batch;
    batch.Put(rocksdb::Slice(key.data(), key.size()), *value);
    return write(batch, key);
  }

  // Visits every key starting with `prefix`, in key order, from one consistent snapshot.
  template <typename Visit>
  Status scan(std::string_view prefix, Visit visit) const {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions{}));
    for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
      const std::string_view key = it->key().ToStringView();
      if (!key.starts_with(prefix)) break;
      if (Status st = visit(key, it->value().ToStringView()); !st) return st;
    }
    if (!it->status().ok()) return io(fmt::format("scan {}", prefix), it->status());
    return {};
  }

  // Chunks whose key is exactly `prefix` + index; the key must agree with the record inside.
  Result<std::vector<ChunkRecord>> read_chunks(const std::string& prefix, bool one_table) const {
    std::vector<ChunkRecord> out;
    Status st = scan(prefix, [&](std::string_view key, std::string_view value) -> Status {
      if (one_table && !rec::is_chunk_key_under(key, prefix)) return {};  // a table named "<table>/..."
      auto chunk = rec::decode_chunk(value);
      if (!chunk) return corrupt(key, chunk.error().message);
      if (rec::chunk_key(chunk->table, chunk->index) != key) return corrupt(key, "key does not match the record");
      out.push_back(std::move(*chunk));
      return {};
    });
    if (!st) return st.take_error();
    // Key order is not (table, index) order: "a.b/..." sorts before "a/...".
    std::sort(out.begin(), out.end(), [](const ChunkRecord& a, const ChunkRecord& b) {
      return std::tie(a.table, a.index) < std::tie(b.table, b.index);
    });
    return out;
  }

  // The next chunk log number follows the last entry on disk, so numbers stay unique across restarts.
  Status load_next_seq() {
    const std::string past_end = std::string(rec::kChunkLogPrefix) + "~";  // '~' sorts after every digit
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions{}));
    it->SeekForPrev(past_end);
    if (!it->status().ok()) return io("scan chunk log", it->status());
    if (!it->Valid() || !it->key().ToStringView().starts_with(rec::kChunkLogPrefix)) return {};
    auto seq = rec::parse_chunklog_seq(it->key().ToStringView());
    if (!seq) return corrupt(it->key().ToStringView(), "not a chunk log key");
    next_seq = *seq + 1;
    return {};
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error{ErrorCode::Io, fmt::format("checkpoint {}: cannot create directory: {}", dir, ec.message())};

  rocksdb::Options options;
  options.create_if_missing = true;
  // The state is small; keep RocksDB's own info logs from filling the state directory.
  options.keep_log_file_num = 3;
  options.max_log_file_size = 1 << 20;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) {
    // RocksDB reports a held LOCK file as an IO error naming ".../LOCK".
    if (s.IsIOError() && s.ToString().find("LOCK") != std::string::npos) {
      return Error{ErrorCode::Io, fmt::format("checkpoint {}: another crmsync process holds this state directory ({})",
                                              dir, s.ToString())};
    }
    return Error{ErrorCode::Io, fmt::format("checkpoint {}: cannot open: {}", dir, s.ToString())};
  }
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->db.reset(raw);
  if (Status st = impl->load_next_seq(); !st) return st.take_error();
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Result<std::unique_ptr<Store>> Store::open_read_only(const std::string& dir) {
  std::error_code ec;
  // RocksDB's CURRENT names the live manifest: without it there is no database here.
  if (!std::filesystem::exists(std::filesystem::path(dir) / "CURRENT", ec)) return std::unique_ptr<Store>{};
  rocksdb::Options options;
  options.keep_log_file_num = 3;
  options.max_log_file_size = 1 << 20;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::OpenForReadOnly(options, dir, &raw);
  if (!s.ok())
    return Error{ErrorCode::Io, fmt::format("checkpoint {}: cannot open for reading: {}", dir, s.ToString())};
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->db.reset(raw);
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

const std::string& Store::dir() const {
  return impl_->dir;
}

Result<Phase> Store::phase() const {
  auto p = impl_->get_decoded<Phase>(rec::kPhaseKey, rec::decode_phase);
  if (!p) return p.take_error();
  return p->value_or(Phase::New);
}

Status Store::set_phase(Phase phase) {
  return impl_->put(rec::kPhaseKey, rec::encode_phase(phase));
}

Result<std::optional<SourceIdentity>> Store::source_identity() const {
  return impl_->get_decoded<SourceIdentity>(rec::kSourceKey, rec::decode_source);
}

Status Store::set_source_identity(const SourceIdentity& source) {
  return impl_->put(rec::kSourceKey, rec::encode_source(source));
}

Status Store::plan_table(const std::string& table, const std::vector<ChunkRecord>& chunks) {
  if (table.empty()) return Error{ErrorCode::InvalidArgument, "checkpoint: plan_table needs a table name"};
  std::vector<std::pair<std::string, std::string>> puts;
  std::set<std::uint32_t> seen;
  for (const auto& chunk : chunks) {
    if (chunk.table != table || !seen.insert(chunk.index).second) {
      return Error{ErrorCode::InvalidArgument,
                   fmt::format("checkpoint: plan for {} has chunk {}#{} (wrong table or duplicate index)", table,
                               chunk.table, chunk.index)};
    }
    auto value = rec::encode_chunk(chunk);
    if (!value) return value.take_error();
    puts.emplace_back(rec::chunk_key(table, chunk.index), std::move(*value));
  }

  // Under the lock so a concurrent mark_chunk_done cannot re-create a chunk of the old plan.
  std::lock_guard lock(impl_->write_mutex);
  // Deletes go first so re-planning with fewer chunks leaves no stale ones; within one batch a
  // Put after a Delete of the same key wins.
  rocksdb::WriteBatch batch;
  const std::string prefix = rec::chunk_prefix(table);
  Status st = impl_->scan(prefix, [&](std::string_view key, std::string_view) -> Status {
    if (rec::is_chunk_key_under(key, prefix)) batch.Delete(rocksdb::Slice(key.data(), key.size()));
    return {};
  });
  if (!st) return st;
  for (const auto& [key, value] : puts) batch.Put(key, value);
  return impl_->write(batch, "plan " + table);
}

Result<std::vector<ChunkRecord>> Store::chunks() const {
  return impl_->read_chunks(std::string(rec::kChunkPrefix), /*one_table=*/false);
}

Result<std::vector<ChunkRecord>> Store::chunks(const std::string& table) const {
  return impl_->read_chunks(rec::chunk_prefix(table), /*one_table=*/true);
}

Status Store::mark_chunk_done(const std::string& table, std::uint32_t index, std::int64_t rows,
                              const std::string& snapshot) {
  if (rows < 0) {
    return Error{ErrorCode::InvalidArgument, fmt::format("checkpoint: {}#{}: negative row count", table, index)};
  }
  const std::string key = rec::chunk_key(table, index);
  // Held across the synced write: the chunk update and its log number must not interleave with
  // another worker's. The fsync costs milliseconds against a chunk copy of seconds.
  std::lock_guard lock(impl_->write_mutex);
  auto chunk = impl_->get_decoded<ChunkRecord>(key, rec::decode_chunk);
  if (!chunk) return chunk.take_error();
  if (!chunk->has_value()) {
    return Error{ErrorCode::InvalidArgument,
                 fmt::format("checkpoint {}: chunk {}#{} was never planned", impl_->dir, table, index)};
  }
  ChunkRecord done = std::move(**chunk);
  done.state = ChunkState::Done;
  done.rows = rows;
  done.snapshot = snapshot;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const ChunkLogEntry entry{impl_->next_seq, table,
                            index,           rows,
                            snapshot,        std::chrono::duration_cast<std::chrono::milliseconds>(now).count()};
  auto chunk_value = rec::encode_chunk(done);
  if (!chunk_value) return chunk_value.take_error();
  auto entry_value = rec::encode_chunk_log(entry);
  if (!entry_value) return entry_value.take_error();

  rocksdb::WriteBatch batch;
  batch.Put(key, *chunk_value);
  batch.Put(rec::chunklog_key(entry.seq), *entry_value);
  if (Status st = impl_->write(batch, key); !st) return st;
  ++impl_->next_seq;  // only after success: a failed write leaves no gap to explain
  return {};
}

Result<std::vector<ChunkLogEntry>> Store::chunk_log() const {
  std::vector<ChunkLogEntry> out;
  Status st = impl_->scan(rec::kChunkLogPrefix, [&](std::string_view key, std::string_view value) -> Status {
    auto entry = rec::decode_chunk_log(value);
    if (!entry) return impl_->corrupt(key, entry.error().message);
    if (rec::chunklog_key(entry->seq) != key) return impl_->corrupt(key, "key does not match the record");
    out.push_back(std::move(*entry));
    return {};
  });
  if (!st) return st.take_error();
  return out;
}

Result<std::optional<Lsn>> Store::confirmed_lsn() const {
  return impl_->get_decoded<Lsn>(rec::kConfirmedLsnKey, rec::decode_lsn);
}

Status Store::set_confirmed_lsn(Lsn lsn) {
  if (lsn.is_invalid()) return Error{ErrorCode::InvalidArgument, "checkpoint: confirmed LSN 0/0 is not a position"};
  std::lock_guard lock(impl_->write_mutex);
  auto current = confirmed_lsn();
  if (!current) return current.take_error();
  if (current->has_value() && lsn < **current) {
    return Error{ErrorCode::Internal, fmt::format("checkpoint {}: confirmed LSN would move backwards from {} to {}",
                                                  impl_->dir, **current, lsn)};
  }
  return impl_->put(rec::kConfirmedLsnKey, rec::encode_lsn(lsn));
}

Status Store::put_meta(const std::string& key, const std::string& value) {
  if (key.empty()) return Error{ErrorCode::InvalidArgument, "checkpoint: put_meta needs a key"};
  return impl_->put(std::string(rec::kUserMetaPrefix) + key, value);
}

Status Store::erase_meta(const std::string& key) {
  if (key.empty()) return Error{ErrorCode::InvalidArgument, "checkpoint: erase_meta needs a key"};
  std::lock_guard lock(impl_->write_mutex);
  rocksdb::WriteBatch batch;
  const auto full = std::string(rec::kUserMetaPrefix) + key;
  batch.Delete(full);
  return impl_->write(batch, "erase meta");
}

Result<std::optional<std::string>> Store::get_meta(const std::string& key) const {
  return impl_->get(std::string(rec::kUserMetaPrefix) + key);
}

Status Store::clear() {
  std::lock_guard lock(impl_->write_mutex);
  rocksdb::WriteBatch batch;
  Status st = impl_->scan("", [&](std::string_view key, std::string_view) -> Status {
    batch.Delete(rocksdb::Slice(key.data(), key.size()));
    return {};
  });
  if (!st) return st;
  if (st = impl_->write(batch, "clear"); !st) return st;
  impl_->next_seq = 1;
  return {};
}

}  // namespace crmsync::checkpoint
