#include "telemetry/board.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "telemetry/format.hpp"

namespace crmsync::telemetry {
namespace {

constexpr Phase kPhases[] = {Phase::Starting, Phase::Copying, Phase::Streaming,
                             Phase::Stopping, Phase::Stopped, Phase::Failed};
constexpr const char* kWalStatuses[] = {"reserved", "extended", "unreserved", "lost"};

std::int64_t system_us(Board::SystemClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

std::string iso_time(Board::SystemClock::time_point t) {
  const auto secs = Board::SystemClock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
}

}  // namespace

const char* to_string(Phase p) {
  switch (p) {
    case Phase::Starting: return "starting";
    case Phase::Copying: return "copying";
    case Phase::Streaming: return "streaming";
    case Phase::Stopping: return "stopping";
    case Phase::Stopped: return "stopped";
    case Phase::Failed: return "failed";
  }
  return "unknown";
}

Board::Board() {
  set_phase(Phase::Starting);
  note_progress();
}

void Board::set_pipeline(std::string name, std::int64_t max_retained_wal_bytes) {
  const std::lock_guard lock(mutex_);
  pipeline_ = std::move(name);
  max_retained_wal_ = max_retained_wal_bytes;
}

void Board::set_phase(Phase p) {
  phase_.store(p);
  for (const auto q : kPhases) metrics_.phase.Add({{"phase", to_string(q)}}).Set(q == p ? 1 : 0);
}

void Board::set_oldest_unapplied(std::optional<SystemClock::time_point> commit_time) {
  oldest_unapplied_us_.store(commit_time ? std::max<std::int64_t>(1, system_us(*commit_time)) : 0,
                             std::memory_order_relaxed);
}

void Board::heartbeat_arrived(std::uint64_t seq) {
  const std::lock_guard lock(mutex_);
  bool any = false;
  while (!heartbeats_.empty() && heartbeats_.front().first <= seq) {
    heartbeats_.pop_front();
    any = true;
  }
  if (any) last_heartbeat_ = SteadyClock::now();
}

Board::SteadyClock::time_point Board::last_progress() const {
  return SteadyClock::time_point(SteadyClock::duration(progress_.load(std::memory_order_relaxed)));
}

void Board::add_applied(std::int64_t changes, std::int64_t transactions, std::int64_t commits) {
  changes_.fetch_add(changes, std::memory_order_relaxed);
  transactions_.fetch_add(transactions, std::memory_order_relaxed);
  commits_.fetch_add(commits, std::memory_order_relaxed);
  metrics_.source_transactions.Increment(static_cast<double>(transactions));
  metrics_.target_commits.Increment(static_cast<double>(commits));
}

std::uint64_t Board::heartbeat_sending() {
  const std::lock_guard lock(mutex_);
  const auto seq = next_heartbeat_++;
  heartbeats_.emplace_back(seq, SteadyClock::now());
  // A heartbeat lost with a connection never arrives; the next ones do, and pop it. Bounded all
  // the same, for a stream that is down for days.
  while (heartbeats_.size() > 10'000) heartbeats_.pop_front();
  return seq;
}

void Board::heartbeat_failed() {
  const std::lock_guard lock(mutex_);
  if (!heartbeats_.empty()) heartbeats_.pop_back();
}

void Board::set_source_wal(Lsn current) {
  source_wal_.store(current.value(), std::memory_order_relaxed);
}

void Board::set_slot(SlotInfo slot) {
  const std::lock_guard lock(mutex_);
  slot.over_limit = max_retained_wal_ > 0 && slot.retained_bytes > max_retained_wal_;
  slot_ = std::move(slot);
}

void Board::set_dead_letters(std::map<std::string, std::int64_t> by_table) {
  const std::lock_guard lock(mutex_);
  for (const auto& [table, _] : dead_letters_) {
    if (!by_table.contains(table)) metrics_.dead_letters.Add({{"table", table}}).Set(0);
  }
  for (const auto& [table, n] : by_table) metrics_.dead_letters.Add({{"table", table}}).Set(static_cast<double>(n));
  dead_letters_ = std::move(by_table);
}

void Board::sample_rates() {
  const std::lock_guard lock(mutex_);
  const auto now = SteadyClock::now();
  samples_.push_back({now, changes_.load(), transactions_.load()});
  while (samples_.size() > 2 && now - samples_.front().at > std::chrono::seconds(10)) samples_.pop_front();
  const auto& first = samples_.front();
  const double span = std::chrono::duration<double>(now - first.at).count();
  if (span <= 0) return;
  changes_per_s_ = static_cast<double>(samples_.back().changes - first.changes) / span;
  transactions_per_s_ = static_cast<double>(samples_.back().transactions - first.transactions) / span;
}

void Board::set_copy(std::vector<TableProgress> tables) {
  const std::lock_guard lock(mutex_);
  for (const auto& t : tables) {
    const prometheus::Labels l{{"table", t.table}};
    metrics_.copy_rows_done.Add(l).Set(static_cast<double>(t.rows_done));
    metrics_.copy_rows_total.Add(l).Set(static_cast<double>(t.rows_total));
    metrics_.copy_chunks_done.Add(l).Set(t.chunks_done);
    metrics_.copy_chunks_total.Add(l).Set(t.chunks_total);
  }
  copy_ = std::move(tables);
}

void Board::set_error(const std::string& kind, const std::string& message) {
  metrics_.errors.Add({{"kind", kind}}).Increment();
  const std::lock_guard lock(mutex_);
  error_kind_ = kind;
  error_message_ = message;
  error_at_ = SystemClock::now();
}

double Board::lag_seconds() const {
  double lag = 0;
  if (const auto oldest = oldest_unapplied_us_.load(std::memory_order_relaxed); oldest > 0) {
    lag = std::max(lag, static_cast<double>(system_us(SystemClock::now()) - oldest) / 1e6);
  }
  const std::lock_guard lock(mutex_);
  if (!heartbeats_.empty()) {
    lag = std::max(lag, std::chrono::duration<double>(SteadyClock::now() - heartbeats_.front().second).count());
  }
  return lag;
}

std::int64_t Board::lag_bytes() const {
  const auto wal = source_wal_.load(std::memory_order_relaxed);
  const auto applied = applied_.load(std::memory_order_relaxed);
  return wal > applied && applied > 0 ? static_cast<std::int64_t>(wal - applied) : 0;
}

Readiness Board::readiness(int max_lag_s) const {
  Readiness r;
  std::string why_not;
  const auto p = phase();
  if (p != Phase::Streaming) {
    why_not = fmt::format("phase is {}, not streaming", to_string(p));
  } else if (!target_up_.load()) {
    why_not = "the target is not connected";
  } else if (!source_up_.load()) {
    why_not = "the source is not connected";
  } else if (const double lag = lag_seconds(); lag > max_lag_s) {
    why_not = fmt::format("lag {} is over http.ready_max_lag_s ({} s)", duration_text(lag), max_lag_s);
  }
  std::string warning;
  {
    const std::lock_guard lock(mutex_);
    if (slot_.wal_status == "unreserved") {
      warning =
          "warning: the slot's WAL is unreserved (past max_slot_wal_keep_size): it will be lost at the next "
          "checkpoint unless the stream catches up";
    } else if (slot_.over_limit) {
      warning = fmt::format("warning: the slot retains {} MB of WAL, over source.max_retained_wal ({} MB)",
                            slot_.retained_bytes >> 20, max_retained_wal_ >> 20);
    }
  }
  // The slot warning goes with either answer: a stream far behind is when it matters most.
  r.ready = why_not.empty();
  r.reason = why_not.empty() ? warning : warning.empty() ? why_not : why_not + "; " + warning;
  return r;
}

std::string Board::status_line() const {
  const auto p = phase();
  if (p != Phase::Streaming) return to_string(p);
  double rate = 0;
  {
    const std::lock_guard lock(mutex_);
    rate = changes_per_s_;
  }
  return fmt::format("streaming, lag {}, {} changes/s", duration_text(lag_seconds()), grouped(rate));
}

nlohmann::json Board::status_json(int max_lag_s) const {
  using nlohmann::json;
  const auto ready = readiness(max_lag_s);
  const double lag = lag_seconds();
  const std::lock_guard lock(mutex_);
  json j;
  j["pipeline"] = pipeline_;
  j["phase"] = to_string(phase());
  j["started_at"] = iso_time(started_);
  j["ready"] = {{"ready", ready.ready}, {"reason", ready.reason}};
  j["connected"] = {{"source", source_up_.load()}, {"target", target_up_.load()}};
  j["positions"] = {{"applied", Lsn{applied_.load()}.to_string()},
                    {"received", Lsn{received_.load()}.to_string()},
                    {"confirmed", Lsn{confirmed_.load()}.to_string()},
                    {"source_wal", Lsn{source_wal_.load()}.to_string()}};
  const auto wal = source_wal_.load();
  const auto applied = applied_.load();
  j["lag"] = {{"seconds", lag}, {"bytes", wal > applied && applied > 0 ? static_cast<std::int64_t>(wal - applied) : 0}};
  if (last_heartbeat_) {
    j["lag"]["heartbeat_age_seconds"] = std::chrono::duration<double>(SteadyClock::now() - *last_heartbeat_).count();
  }
  j["rates"] = {{"changes_per_s", changes_per_s_}, {"transactions_per_s", transactions_per_s_}};
  j["totals"] = {
      {"changes", changes_.load()}, {"transactions", transactions_.load()}, {"target_commits", commits_.load()}};
  json copy = json::array();
  for (const auto& t : copy_) {
    json row = {{"table", t.table},
                {"rows_done", t.rows_done},
                {"rows_total", t.rows_total},
                {"chunks_done", t.chunks_done},
                {"chunks_total", t.chunks_total},
                {"rows_per_s", t.rows_per_s},
                {"done", t.done}};
    if (!t.done && t.rows_per_s > 0 && t.rows_total > t.rows_done) {
      row["eta_s"] = static_cast<double>(t.rows_total - t.rows_done) / t.rows_per_s;
    }
    copy.push_back(std::move(row));
  }
  j["copy"] = std::move(copy);
  std::int64_t letters = 0;
  for (const auto& [_, n] : dead_letters_) letters += n;
  j["dead_letters"] = {{"total", letters}, {"by_table", dead_letters_}};
  json slot = {{"name", slot_.name},
               {"found", slot_.found},
               {"retained_wal_bytes", slot_.retained_bytes},
               {"wal_status", slot_.wal_status},
               {"max_retained_wal_bytes", max_retained_wal_},
               {"over_limit", slot_.over_limit},
               {"max_slot_wal_keep_size_mb", slot_.max_slot_wal_keep_size_mb}};
  slot["safe_wal_size_bytes"] = slot_.safe_wal_size ? json(*slot_.safe_wal_size) : json(nullptr);
  j["slot"] = std::move(slot);
  if (error_at_) {
    j["last_error"] = {{"kind", error_kind_}, {"message", error_message_}, {"at", iso_time(*error_at_)}};
  } else {
    j["last_error"] = nullptr;
  }
  return j;
}

std::string Board::metrics_text() {
  metrics_.applied_lsn.Set(static_cast<double>(applied_.load()));
  metrics_.received_lsn.Set(static_cast<double>(received_.load()));
  metrics_.confirmed_lsn.Set(static_cast<double>(confirmed_.load()));
  metrics_.source_wal_lsn.Set(static_cast<double>(source_wal_.load()));
  metrics_.lag_bytes.Set(static_cast<double>(lag_bytes()));
  metrics_.lag_seconds.Set(lag_seconds());
  {
    const std::lock_guard lock(mutex_);
    metrics_.slot_retained_wal_bytes.Set(static_cast<double>(slot_.retained_bytes));
    metrics_.slot_safe_wal_size_bytes.Set(slot_.safe_wal_size ? static_cast<double>(*slot_.safe_wal_size) : -1.0);
    for (const auto* s : kWalStatuses) metrics_.slot_wal_status.Add({{"status", s}}).Set(slot_.wal_status == s ? 1 : 0);
    metrics_.slot_retained_wal_over_limit.Set(slot_.over_limit ? 1 : 0);
    metrics_.heartbeat_age_seconds.Set(
        last_heartbeat_ ? std::chrono::duration<double>(SteadyClock::now() - *last_heartbeat_).count() : -1.0);
  }
  return metrics_.exposition();
}

Board& board() {
  static Board instance;
  return instance;
}

}  // namespace crmsync::telemetry
