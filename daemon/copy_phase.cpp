#include "daemon/copy_phase.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "cdc/snapshot.hpp"
#include "daemon/chunk_filter.hpp"
#include "daemon/copy_locks.hpp"
#include "daemon/copy_progress.hpp"
#include "daemon/log_context.hpp"
#include "daemon/lookups.hpp"
#include "daemon/signals.hpp"
#include "pq/catalog.hpp"
#include "pq/copy.hpp"
#include "pq/copy_text.hpp"
#include "sink/postgres/copy_sink.hpp"
#include "sink/postgres/dead_letters.hpp"

namespace crmsync::daemon {
namespace {

constexpr std::int64_t kStopCheckRows = 4096;

// Shared between workers: the queue, the first error, the stop decision.
class WorkQueue {
 public:
  explicit WorkQueue(std::vector<CopyTask> tasks) : tasks_(tasks.begin(), tasks.end()) {}
  std::optional<CopyTask> pop() {
    std::lock_guard lock(mutex_);
    if (failed_ || tasks_.empty()) return std::nullopt;
    auto t = tasks_.front();
    tasks_.pop_front();
    return t;
  }
  void fail(Error e) {
    std::lock_guard lock(mutex_);
    if (!failed_) failed_ = std::move(e);
  }
  bool failed() {
    std::lock_guard lock(mutex_);
    return failed_.has_value();
  }
  std::optional<Error> error() {
    std::lock_guard lock(mutex_);
    return failed_;
  }

 private:
  std::mutex mutex_;
  std::deque<CopyTask> tasks_;
  std::optional<Error> failed_;
};

enum class ChunkResult { Done, Stopped, Rewritten };

// Whether the chunk's rows, read at its snapshot, are not what the copy may keep, in one catalog
// read inside the chunk's transaction:
// - rewritten: the table (or a partition) got a new relfilenode after the snapshot. TRUNCATE and
//   the rewriting forms of ALTER TABLE are not MVCC-safe: a scan at the older snapshot sees the new
//   file's rows as invisible, i.e. an empty or partial table. VACUUM FULL, CLUSTER and SET
//   TABLESPACE also give a new file but keep the rows' visibility; they cannot be told apart from
//   here, so they cost a re-copy of the chunk too (conservative, never wrong). pg_class gives the
//   row as of the snapshot and pg_relation_filenode() the current file (the COPY's lock keeps the
//   partitions it read from changing until the transaction ends; a partition it pruned may report
//   a change, which again only costs a re-copy).
// - relaid: its columns at the snapshot (pg_attribute as of the snapshot) are not the ones it was
//   described with. Tables are described before the snapshot is taken: a column added in between
//   is in the snapshot's rows but not in the COPY, and the stream's changes that set it are before
//   the snapshot, so the chunk filter would skip them and the values would be lost for good.
struct SnapshotCheck {
  bool rewritten = false;
  bool relaid = false;
};
Result<SnapshotCheck> check_at_snapshot(pq::Connection& source, const CopyTable& table) {
  std::vector<std::string> described;
  for (const auto& c : table.source_info.columns) {
    if (!c.generated) described.push_back(c.name);
  }
  std::sort(described.begin(), described.end());
  auto res = source.exec_params(
      "SELECT (SELECT count(*) FROM pg_class c WHERE c.oid IN (SELECT relid FROM pg_partition_tree($1::regclass)) AND "
      "c.relkind = 'r' AND c.relfilenode <> pg_relation_filenode(c.oid)) <> 0, (SELECT coalesce(string_agg(attname, "
      "',' ORDER BY attname COLLATE \"C\"), '') FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND "
      "NOT attisdropped AND attgenerated = '') <> $2",
      {pq::quote_qualified(table.source.schema, table.source.table), fmt::format("{}", fmt::join(described, ","))});
  if (!res) return res.take_error();
  return SnapshotCheck{.rewritten = res->get(0, 0) == "t", .relaid = res->get(0, 1) == "t"};
}

// Rows of a mapped table: each source COPY text line parsed, mapped and written as a COPY text
// line, in buffers of about 64 kB. A refused row follows the mapping's on_invalid.
class MappedRows {
 public:
  MappedRows(const CopyTable& table, std::uint32_t chunk, mapping::LookupSource* lookups)
      : table_(table), chunk_(chunk), lookups_(lookups) {}

  Status put(const pq::CopyChunk& line, sink::postgres::ChunkWriter& writer) {
    if (auto ok = pq::parse_copy_text(line.view(), table_.read_columns.size(), row_); !ok) {
      return Error{ErrorCode::ProtocolViolation,
                   fmt::format("copy of {}: {}", table_.source.qualified(), ok.error().message)};
    }
    if (lookups_ != nullptr) {
      // Resolved in place; the legacy values are kept aside, so that a refused row's dead letter
      // holds the row as the source has it.
      legacy_.clear();
      for (const auto& l : table_.mapper->lookups()) legacy_.push_back(row_[l.index]);
      auto missing = table_.mapper->resolve_lookups(row_, *lookups_, mapping::RowOp::Insert);
      if (!missing) return missing.take_error();
      if (*missing) return refused(**missing);
    }
    auto out = table_.mapper->map(row_, mapping::RowOp::Insert);
    if (out.rejected) return refused(*out.rejected);
    pq::append_copy_text(out.row, buffer_);
    if (buffer_.size() < kBuffer) return {};
    return flush(writer);
  }
  Status flush(sink::postgres::ChunkWriter& writer) {
    if (buffer_.empty()) return {};
    auto ok = writer.put(buffer_);
    buffer_.clear();
    return ok;
  }
  [[nodiscard]] std::int64_t skipped() const { return skipped_; }
  [[nodiscard]] const std::vector<sink::postgres::DeadLetter>& letters() const { return letters_; }

 private:
  static constexpr std::size_t kBuffer = 64 * 1024;

  Status refused(const mapping::Rejection& r) {
    if (lookups_ != nullptr) {
      const auto& lookups = table_.mapper->lookups();
      for (std::size_t k = 0; k < lookups.size(); ++k) row_[lookups[k].index] = std::move(legacy_[k]);
    }
    if (table_.on_invalid == config::OnInvalid::Skip) {
      ++skipped_;
      return {};
    }
    // The row's key as the stream names it (replica identity: every column when FULL), so that
    // its later changes wait behind the letter.
    const bool full = table_.source_info.replica_identity == ReplicaIdentity::Full;
    std::vector<std::string> key;
    for (std::size_t i = 0; i < table_.read_columns.size(); ++i) {
      const auto* col = table_.source_info.column(table_.read_columns[i]);
      if (col == nullptr || (!full && !col->primary_key)) continue;
      key.push_back(sink::postgres::key_part(col->name, row_[i]));
    }
    if (table_.on_invalid == config::OnInvalid::DeadLetter) {
      sink::postgres::DeadLetter l;
      l.source_table = table_.source.qualified();
      l.key = key.empty() ? std::string("no key") : fmt::format("{}", fmt::join(key, ", "));
      l.chunk = chunk_;
      for (std::size_t i = 0; i < table_.read_columns.size(); ++i) l.row.emplace_back(table_.read_columns[i], row_[i]);
      l.rule = r.rule;
      l.column = r.column;
      l.reason = r.reason;
      letters_.push_back(std::move(l));
      return {};
    }
    return Error{ErrorCode::StateMismatch,
                 fmt::format("copy of {} (chunk {}): the row with {} is refused by the mapping: column {}, rule {}: "
                             "{}. on_invalid is halt: fix the mapping or the row on the source and run again (the "
                             "chunks already copied are kept)",
                             table_.source.qualified(), chunk_,
                             key.empty() ? "no primary key" : fmt::format("{}", fmt::join(key, ", ")), r.column, r.rule,
                             r.reason)};
  }

  const CopyTable& table_;
  std::uint32_t chunk_;
  mapping::LookupSource* lookups_;  // nullptr: the table has no lookups
  Row row_;
  std::vector<Value> legacy_;  // the lookup columns' source values of the row being mapped
  std::string buffer_;
  std::int64_t skipped_ = 0;
  std::vector<sink::postgres::DeadLetter> letters_;  // committed with the chunk
};

// Streams one chunk. Binary COPY data messages are one row each (the first also carries the
// 19-byte header, the last message is the 2-byte trailer), so counting messages is a row count
// for progress; the authoritative count is the target's.
Result<ChunkResult> copy_one(const CopyRun& run, cdc::SnapshotSession& source, Lsn taken_at, pq::Connection& target,
                             const CopyTask& task, checkpoint::Store& store, CopyProgress::Table& progress,
                             WorkQueue& queue) {
  const auto& table = *task.table;
  const LogTableScope log_table(progress.name);
  std::vector<std::string> columns;
  columns.reserve(table.plan.columns.size());
  if (table.mapper) {
    columns = table.mapper->target_columns();
  } else {
    for (const auto& c : table.plan.columns) columns.push_back(c.target);
  }
  // Lookups ask the target on a session of their own: this worker's is busy with the COPY. Parents
  // were copied in an earlier wave (copy_chunks), so a miss is a parent that is not there.
  std::optional<pq::Connection> lookup_conn;
  std::optional<TargetLookups> lookups;
  if (table.mapper && !table.mapper->lookups().empty()) {
    auto conn = pq::Connection::connect(run.target);
    if (!conn) return conn.take_error();
    lookup_conn.emplace(std::move(conn).value());
    lookups.emplace([&lookup_conn]() -> Result<pq::Connection*> { return &*lookup_conn; });
  }
  MappedRows mapped(table, task.index, lookups ? &*lookups : nullptr);

  // One source transaction per chunk: between chunks this worker holds no lock on the source.
  if (auto ok = source.begin(); !ok) return ok.take_error();
  auto started = source.connection().exec(copy_out_sql(table, task.range));
  if (!started) {
    return started.take_error();
  }
  auto writer = sink::postgres::ChunkWriter::begin(target, table.plan.target.schema, table.plan.target.table, columns,
                                                   table.binary);
  if (!writer) {
    return writer.take_error();
  }
  std::int64_t messages = 0;
  std::int64_t counted = 0;  // rows among the messages
  while (true) {
    auto next = pq::copy_out_next(source.connection());
    if (!next) {
      writer->abort("source COPY failed");
      return next.take_error();
    }
    if (!next->has_value()) break;
    auto put = table.mapper ? mapped.put(**next, *writer) : writer->put((*next)->view());
    if (!put) {
      writer->abort("the row could not be written");
      return put.take_error();
    }
    ++messages;
    // Not the binary trailer (two 0xFF bytes; a text row ends with a newline): what `crmsync
    // status` shows would otherwise run one row ahead per chunk in flight until its commit.
    if ((*next)->view() != std::string_view("\xff\xff", 2)) {
      ++counted;
      progress.rows.fetch_add(1, std::memory_order_relaxed);
    }
    if (messages % kStopCheckRows == 0 && (stop_requested() || queue.failed())) {
      // Abandon the chunk: the target rolls back; the source COPY dies with the session.
      writer->abort("crmsync is stopping");
      progress.rows.fetch_sub(counted, std::memory_order_relaxed);
      return ChunkResult::Stopped;
    }
  }
  if (auto flushed = mapped.flush(*writer); !flushed) {
    writer->abort("the row could not be written");
    return flushed.take_error();
  }
  auto checked = check_at_snapshot(source.connection(), table);
  if (!checked) return checked.take_error();
  if (auto ok = source.end(); !ok) return ok.take_error();
  if (checked->relaid && !checked->rewritten) {
    spdlog::info(
        "copy: the columns of {} changed between its description and chunk {}'s snapshot (ALTER TABLE); "
        "copying the chunk again with the new columns",
        table.source.qualified(), task.index);
  }
  if (checked->rewritten || checked->relaid) {
    writer->abort("the source table was rewritten or altered after the snapshot");
    progress.rows.fetch_sub(counted, std::memory_order_relaxed);
    return ChunkResult::Rewritten;
  }
  const auto snapshot = ChunkSnapshot::text(source.xid_snapshot(), taken_at);
  const sink::postgres::CopiedChunk record{table.source.qualified(), task.index, 0, snapshot, mapped.skipped()};
  auto rows = writer->commit(run.pipeline, record, mapped.letters());
  if (!rows) {
    return rows.take_error();
  }
  // Settle on the target's count (a mapping may split or skip rows).
  progress.rows.fetch_add(*rows - counted, std::memory_order_relaxed);
  auto marked = store.mark_chunk_done(table.source.qualified(), task.index, *rows, snapshot);
  if (!marked) {
    return marked.take_error();
  }
  progress.chunks_done.fetch_add(1);
  spdlog::debug("copied {} chunk {}: {} rows", table.source.qualified(), task.index, *rows);
  if (!mapped.letters().empty()) {
    spdlog::warn("copy: {} chunk {}: {} row(s) refused by the mapping are dead letters; see crmsync dlq list",
                 table.source.qualified(), task.index, mapped.letters().size());
  }
  if (mapped.skipped() > 0) {
    spdlog::info("copy: {} chunk {}: {} row(s) refused by the mapping were skipped (on_invalid: skip)",
                 table.source.qualified(), task.index, mapped.skipped());
  }
  return ChunkResult::Done;
}

// What the workers share besides the queue.
struct Shared {
  const CopyRun& run;
  const CopySnapshotRef& snapshot;
  checkpoint::Store& store;
  WorkQueue& queue;
  std::map<const CopyTable*, CopyProgress::Table*>& progress;
  LockWatch& locks;
  std::mutex mutex;
  bool stopped = false;
  std::set<std::string> rewritten;  // tables with a chunk to copy again at a newer snapshot
};

void worker(int id, Shared& shared) {
  auto source = cdc::SnapshotSession::attach(shared.run.source, shared.snapshot.name);
  if (!source) {
    shared.queue.fail(source.take_error());
    return;
  }
  auto target = pq::Connection::connect(shared.run.target);
  if (!target) {
    shared.queue.fail(target.take_error());
    return;
  }
  const int pid = source->connection().backend_pid();
  while (!stop_requested()) {
    auto task = shared.queue.pop();
    if (!task) break;
    auto* progress = shared.progress.at(task->table);
    shared.locks.working(id, pid, progress);
    auto done =
        copy_one(shared.run, *source, shared.snapshot.taken_at, *target, *task, shared.store, *progress, shared.queue);
    shared.locks.working(id, pid, nullptr);
    if (!done) {
      shared.queue.fail(Error{
          done.error().code,
          fmt::format("copying {} chunk {}: {}", task->table->source.qualified(), task->index, done.error().message),
          done.error().retry});
      return;
    }
    if (*done == ChunkResult::Stopped) break;
    if (*done == ChunkResult::Rewritten) {
      std::lock_guard lock(shared.mutex);
      shared.rewritten.insert(task->table->source.qualified());
    }
  }
  std::lock_guard lock(shared.mutex);
  shared.stopped = shared.stopped || stop_requested();
}

}  // namespace

std::string copy_out_sql(const CopyTable& table, const cdc::ChunkRange& range) {
  std::vector<std::string> cols;
  cols.reserve(table.plan.columns.size());
  if (table.mapper) {
    for (const auto& c : table.read_columns) cols.push_back(pq::quote_ident(c));
  } else {
    for (const auto& c : table.plan.columns) cols.push_back(pq::quote_ident(c.source));
  }
  const bool only = table.source_info.kind == TableKind::Table;  // a partitioned parent reads its partitions
  auto where = cdc::chunk_predicate(table.chunking, table.key_column, range);
  if (!table.row_filter.empty()) {
    where = where.empty() ? "WHERE (" + table.row_filter + ")"
                          : "WHERE (" + table.row_filter + ") AND " + where.substr(std::string_view("WHERE ").size());
  }
  return fmt::format("COPY (SELECT {} FROM {}{}{}{}) TO STDOUT{}", fmt::join(cols, ", "), only ? "ONLY " : "",
                     pq::quote_qualified(table.source.schema, table.source.table), where.empty() ? "" : " ", where,
                     table.binary ? " (FORMAT binary)" : "");
}

namespace {

Result<CopyOutcome> copy_wave(const CopyRun& run, const CopySnapshotRef& snapshot, std::vector<CopyTask> tasks,
                              const std::vector<CopyTable>& tables, checkpoint::Store& store) {
  CopyProgress progress(run.interactive);
  std::map<const CopyTable*, CopyProgress::Table*> by_table;
  for (const auto& t : tables) {
    auto chunks = store.chunks(t.source.qualified());
    if (!chunks) {
      return chunks.take_error();
    }
    std::int64_t rows = 0;
    std::int64_t done = 0;
    for (const auto& c : *chunks) {
      if (c.state == checkpoint::ChunkState::Done) {
        rows += c.rows;
        ++done;
      }
    }
    by_table[&t] = &progress.add_table(t.source.qualified(), t.source_info.estimated_rows,
                                       static_cast<std::int64_t>(chunks->size()), rows, done);
  }
  const auto workers =
      static_cast<std::size_t>(std::max(1, std::min<int>(run.parallel, static_cast<int>(tasks.size()))));
  spdlog::info("copy: {} chunk(s) of {} table(s) with {} worker(s)", tasks.size(), tables.size(), workers);
  WorkQueue queue(std::move(tasks));
  progress.start();
  LockWatch locks(run.source, progress);
  Shared shared{.run = run,
                .snapshot = snapshot,
                .store = store,
                .queue = queue,
                .progress = by_table,
                .locks = locks,
                .mutex = {},
                .stopped = false,
                .rewritten = {}};
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < workers; ++i) {
    threads.emplace_back([&shared, i] { worker(static_cast<int>(i), shared); });
  }
  for (auto& t : threads) t.join();
  progress.finish();
  if (auto e = queue.error()) {
    return *e;
  }
  if (shared.stopped || stop_requested()) return CopyOutcome::Stopped;
  if (!shared.rewritten.empty()) {
    spdlog::warn(
        "copy: {} {} rewritten on the source after the copy's snapshot (TRUNCATE, VACUUM FULL, CLUSTER or "
        "a rewriting ALTER TABLE), so that snapshot no longer sees its rows; copying the affected chunks "
        "again at a new snapshot (the stream skips what that snapshot already holds)",
        fmt::join(shared.rewritten, ", "), shared.rewritten.size() == 1 ? "was" : "were");
    return CopyOutcome::Rewritten;
  }
  return CopyOutcome::Completed;
}

// A table's wave: 0 without lookups into tables this copy writes, else one past its parents', so
// that every parent row is committed before a child looks it up (workers copy in any order).
// A lookup into the table its own mapping writes (a parent account), or a cycle of lookups, has
// no order in which every parent is there first: refused rather than turned into dead letters.
Result<std::map<const CopyTable*, int>> waves(const std::vector<CopyTable>& tables) {
  std::map<const CopyTable*, int> wave;
  for (const auto& t : tables) wave[&t] = 0;
  for (std::size_t round = 0; round <= tables.size(); ++round) {
    bool moved = false;
    for (const auto& t : tables) {
      if (!t.mapper) continue;
      for (const auto& l : t.mapper->lookups()) {
        if (l.lookup.table == t.plan.target) {
          return Error{ErrorCode::ConfigInvalid,
                       fmt::format("the lookup of {}.{} reads {}, the table its own mapping writes: a lookup within "
                                   "one table (e.g. a parent account) is not supported; map that column without "
                                   "lookup, or to a column of its own",
                                   t.source.qualified(), l.column, l.lookup.table.qualified())};
        }
        for (const auto& parent : tables) {
          if (parent.plan.target != l.lookup.table || wave[&t] > wave[&parent]) continue;
          wave[&t] = wave[&parent] + 1;
          moved = true;
        }
      }
    }
    if (!moved) return wave;
  }
  return Error{ErrorCode::ConfigInvalid,
               "the mappings' lookups form a cycle (a table looks up one that looks it up, directly or not): no copy "
               "order has every parent before its children"};
}

}  // namespace

Result<CopyOutcome> copy_chunks(const CopyRun& run, const CopySnapshotRef& snapshot, std::vector<CopyTask> tasks,
                                const std::vector<CopyTable>& tables, checkpoint::Store& store) {
  auto ordered = waves(tables);
  if (!ordered) return ordered.take_error();
  const auto& wave = *ordered;
  int last = 0;
  for (const auto& [_, w] : wave) last = std::max(last, w);
  if (last == 0) return copy_wave(run, snapshot, std::move(tasks), tables, store);
  for (int w = 0; w <= last; ++w) {
    std::vector<CopyTask> these;
    for (const auto& task : tasks) {
      if (wave.at(task.table) == w) these.push_back(task);
    }
    if (these.empty()) continue;
    spdlog::info("copy: wave {} of {}: {} chunk(s) of tables whose lookup parents are copied", w + 1, last + 1,
                 these.size());
    auto outcome = copy_wave(run, snapshot, std::move(these), tables, store);
    if (!outcome || *outcome != CopyOutcome::Completed) return outcome;
  }
  return CopyOutcome::Completed;
}

}  // namespace crmsync::daemon
