#include "daemon/copy_locks.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <vector>

namespace crmsync::daemon {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPollEvery = std::chrono::seconds(1);
constexpr auto kLogEvery = std::chrono::seconds(30);

int to_int(std::string_view s) {
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

LockWatch::LockWatch(pq::ConnectOptions source, CopyProgress& progress)
    : source_(std::move(source)), progress_(progress) {
  source_.application_name = "crmsync lock watch";
  thread_ = std::thread([this] { loop(); });
}

LockWatch::~LockWatch() {
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void LockWatch::working(int worker, int pid, CopyProgress::Table* table) {
  std::lock_guard lock(mutex_);
  auto& w = workers_[worker];
  if (w.table != nullptr && w.table != table) progress_.set_note(*w.table, "");
  w = Worker{.pid = pid, .table = table, .waiting_since = std::nullopt, .last_logged = {}};
}

void LockWatch::loop() {
  std::optional<pq::Connection> conn;
  std::unique_lock lock(mutex_);
  while (!done_) {
    wake_.wait_for(lock, kPollEvery, [this] { return done_; });
    if (done_) break;
    lock.unlock();
    if (!conn) {
      auto c = pq::Connection::connect(source_);
      if (c) {
        conn.emplace(std::move(c).value());
      } else {
        spdlog::debug("copy lock watch: {}", c.error().message);
      }
    }
    if (conn) poll(*conn);
    if (conn && !conn->ok()) conn.reset();
    lock.lock();
  }
}

void LockWatch::poll(pq::Connection& conn) {
  std::vector<int> pids;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [_, w] : workers_) {
      if (w.table != nullptr && w.pid != 0) pids.push_back(w.pid);
    }
  }
  if (pids.empty()) return;
  // One row per (waiting worker, blocking session). The blocker's query is cut short: it is the
  // legacy application's statement, which an operator needs to recognise, not to read in full.
  auto res = conn.exec_params(
      "SELECT a.pid, b.pid, coalesce(b.usename::text, '?'), left(regexp_replace(coalesce(b.query, ''), '\\s+', ' ', "
      "'g'), 120) "
      "FROM pg_stat_activity a CROSS JOIN LATERAL unnest(pg_blocking_pids(a.pid)) AS blocker(pid) "
      "LEFT JOIN pg_stat_activity b ON b.pid = blocker.pid "
      "WHERE a.pid = ANY($1::int[]) AND a.wait_event_type = 'Lock' ORDER BY a.pid, b.pid",
      {fmt::format("{{{}}}", fmt::join(pids, ","))});
  if (!res) {
    spdlog::debug("copy lock watch: {}", res.error().message);
    return;
  }
  std::map<int, std::string> blocked;  // waiting pid -> who blocks it
  for (int r = 0; r < res->rows(); ++r) {
    auto& text = blocked[to_int(res->get(r, 0))];
    if (!text.empty()) text += "; ";
    text += fmt::format("pid {} ({}): {}", res->get(r, 1), res->get(r, 2), res->get(r, 3));
  }
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  for (auto& [_, w] : workers_) {
    if (w.table == nullptr) continue;
    const auto it = blocked.find(w.pid);
    if (it == blocked.end()) {
      if (w.waiting_since) {
        progress_.set_note(*w.table, "");
        if (w.last_logged != Clock::time_point{}) {
          spdlog::info("copy: {} got its lock after {} s", w.table->name,
                       std::chrono::duration_cast<std::chrono::seconds>(now - *w.waiting_since).count());
        }
      }
      w.waiting_since.reset();
      w.last_logged = {};
      continue;
    }
    if (!w.waiting_since) w.waiting_since = now;
    const auto waited = std::chrono::duration_cast<std::chrono::seconds>(now - *w.waiting_since);
    if (waited < kReportAfter) continue;
    const auto note = fmt::format("waiting {} s for a lock, blocked by {}", waited.count(), it->second);
    progress_.set_note(*w.table, note);
    if (now - w.last_logged >= kLogEvery) {
      spdlog::warn("copy: {} is {} (crmsync holds no lock meanwhile; the copy goes on once it is released)",
                   w.table->name, note);
      w.last_logged = now;
    }
  }
}

}  // namespace crmsync::daemon
