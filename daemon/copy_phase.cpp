#include "daemon/copy_phase.hpp"

#include <unistd.h>

#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "cdc/snapshot.hpp"
#include "daemon/copy_progress.hpp"
#include "daemon/signals.hpp"
#include "pq/copy.hpp"
#include "sink/postgres/copy_sink.hpp"

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

enum class ChunkResult { Done, Stopped };

// Streams one chunk. Binary COPY data messages are one row each (the first also carries the
// 19-byte header, the last message is the 2-byte trailer), so counting messages is a row count
// for progress; the authoritative count is the target's.
Result<ChunkResult> copy_one(const CopyRun& run, cdc::SnapshotSession& source, pq::Connection& target,
                             const CopyTask& task, checkpoint::Store& store, CopyProgress::Table& progress,
                             WorkQueue& queue) {
  const auto& table = *task.table;
  std::vector<std::string> columns;
  columns.reserve(table.plan.columns.size());
  for (const auto& c : table.plan.columns) columns.push_back(c.target);

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
  while (true) {
    auto next = pq::copy_out_next(source.connection());
    if (!next) {
      writer->abort("source COPY failed");
      return next.take_error();
    }
    if (!next->has_value()) break;
    auto put = writer->put((*next)->view());
    if (!put) {
      return put.take_error();
    }
    ++messages;
    progress.rows.fetch_add(1, std::memory_order_relaxed);
    if (messages % kStopCheckRows == 0 && (stop_requested() || queue.failed())) {
      // Abandon the chunk: the target rolls back; the source COPY dies with the session.
      writer->abort("crmsync is stopping");
      progress.rows.fetch_sub(messages, std::memory_order_relaxed);
      return ChunkResult::Stopped;
    }
  }
  const sink::postgres::CopiedChunk record{table.source.qualified(), task.index, 0, source.xid_snapshot()};
  auto rows = writer->commit(run.pipeline, record);
  if (!rows) {
    return rows.take_error();
  }
  // Messages overcount by one for binary (the trailer); settle on the target's count.
  progress.rows.fetch_add(*rows - messages, std::memory_order_relaxed);
  auto marked = store.mark_chunk_done(table.source.qualified(), task.index, *rows, source.xid_snapshot());
  if (!marked) {
    return marked.take_error();
  }
  progress.chunks_done.fetch_add(1);
  spdlog::debug("copied {} chunk {}: {} rows", table.source.qualified(), task.index, *rows);
  return ChunkResult::Done;
}

void worker(const CopyRun& run, const std::string& snapshot, checkpoint::Store& store, WorkQueue& queue,
            std::map<const CopyTable*, CopyProgress::Table*>& progress, bool& stopped, std::mutex& stopped_mutex) {
  auto source = cdc::SnapshotSession::import(run.source, snapshot);
  if (!source) {
    queue.fail(source.take_error());
    return;
  }
  auto target = pq::Connection::connect(run.target);
  if (!target) {
    queue.fail(target.take_error());
    return;
  }
  while (!stop_requested()) {
    auto task = queue.pop();
    if (!task) return;
    auto done = copy_one(run, *source, *target, *task, store, *progress.at(task->table), queue);
    if (!done) {
      queue.fail(Error{done.error().code,
                       fmt::format("copying {} chunk {}: {}", task->table->source.qualified(), task->index,
                                   done.error().message),
                       done.error().retry});
      return;
    }
    if (*done == ChunkResult::Stopped) break;
  }
  std::lock_guard lock(stopped_mutex);
  stopped = stopped || stop_requested();
}

}  // namespace

std::string copy_out_sql(const CopyTable& table, const cdc::ChunkRange& range) {
  std::vector<std::string> cols;
  cols.reserve(table.plan.columns.size());
  for (const auto& c : table.plan.columns) cols.push_back(pq::quote_ident(c.source));
  const bool only = table.source_info.kind == TableKind::Table;  // a partitioned parent reads its partitions
  const auto where = cdc::chunk_predicate(table.chunking, table.key_column, range);
  return fmt::format("COPY (SELECT {} FROM {}{}{}{}) TO STDOUT{}", fmt::join(cols, ", "), only ? "ONLY " : "",
                     pq::quote_qualified(table.source.schema, table.source.table), where.empty() ? "" : " ", where,
                     table.binary ? " (FORMAT binary)" : "");
}

Result<CopyOutcome> copy_chunks(const CopyRun& run, const std::string& snapshot_name, std::vector<CopyTask> tasks,
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
  const auto workers = static_cast<std::size_t>(std::max(1, std::min<int>(run.parallel, static_cast<int>(tasks.size()))));
  spdlog::info("copy: {} chunk(s) of {} table(s) with {} worker(s)", tasks.size(), tables.size(), workers);
  WorkQueue queue(std::move(tasks));
  bool stopped = false;
  std::mutex stopped_mutex;
  progress.start();
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < workers; ++i) {
    threads.emplace_back(
        [&] { worker(run, snapshot_name, store, queue, by_table, stopped, stopped_mutex); });
  }
  for (auto& t : threads) t.join();
  progress.finish();
  if (auto e = queue.error()) {
    return *e;
  }
  return stopped || stop_requested() ? CopyOutcome::Stopped : CopyOutcome::Completed;
}

}  // namespace crmsync::daemon
