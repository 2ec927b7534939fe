#include "daemon/copy_progress.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "telemetry/board.hpp"

namespace crmsync::daemon {
namespace {

std::string duration_text(double seconds) {
  const auto s = static_cast<std::int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

}  // namespace

CopyProgress::CopyProgress(bool interactive) : interactive_(interactive) {}

CopyProgress::~CopyProgress() {
  finish();
}

CopyProgress::Table& CopyProgress::add_table(const std::string& name, double estimated_rows, std::int64_t chunks_total,
                                             std::int64_t rows_already, std::int64_t chunks_already) {
  auto t = std::make_unique<Table>();
  t->name = name;
  t->estimated_rows = estimated_rows;
  t->chunks_total = chunks_total;
  t->rows = rows_already;
  t->chunks_done = chunks_already;
  tables_.push_back(std::move(t));
  last_rows_.push_back(rows_already);
  published_rows_.push_back(rows_already);
  return *tables_.back();
}

void CopyProgress::start() {
  started_ = last_ = published_at_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { loop(); });
}

void CopyProgress::finish() {
  {
    std::lock_guard lock(mutex_);
    if (done_) return;
    done_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
    publish();
    report(true);
  }
}

void CopyProgress::loop() {
  // Every second for the board (crmsync status, /metrics); the log every 10 s off a terminal.
  const auto period = interactive_ ? std::chrono::seconds(1) : std::chrono::seconds(10);
  auto next_report = std::chrono::steady_clock::now() + period;
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, std::chrono::seconds(1), [this] { return done_; })) {
    lock.unlock();
    publish();
    telemetry::board().note_progress();
    if (std::chrono::steady_clock::now() >= next_report) {
      report(false);
      next_report = std::chrono::steady_clock::now() + period;
    }
    lock.lock();
  }
}

void CopyProgress::publish() {
  const auto now = std::chrono::steady_clock::now();
  const double dt = std::chrono::duration<double>(now - published_at_).count();
  published_at_ = now;
  published_rows_.resize(tables_.size(), 0);
  std::vector<telemetry::TableProgress> out;
  for (std::size_t i = 0; i < tables_.size(); ++i) {
    const auto& t = *tables_[i];
    telemetry::TableProgress p;
    p.table = t.name;
    p.rows_done = t.rows.load();
    p.chunks_done = static_cast<int>(t.chunks_done.load());
    p.chunks_total = static_cast<int>(t.chunks_total);
    p.done = p.chunks_done >= p.chunks_total;
    p.rows_total =
        p.done ? p.rows_done : std::max<std::int64_t>(p.rows_done, static_cast<std::int64_t>(t.estimated_rows));
    p.rows_per_s = dt > 0 ? static_cast<double>(p.rows_done - published_rows_[i]) / dt : 0;
    published_rows_[i] = p.rows_done;
    out.push_back(std::move(p));
  }
  telemetry::board().set_copy(std::move(out));
}

std::string CopyProgress::render_line(const std::string& name, std::int64_t rows, double estimated, double rows_per_s,
                                      std::int64_t chunks_done, std::int64_t chunks_total) {
  std::string out = fmt::format("{}  {} rows", name, rows);
  if (estimated > 0) {
    const double pct = std::min(100.0, 100.0 * static_cast<double>(rows) / estimated);
    out += fmt::format(" of ~{:.0f} ({:.0f}%)", estimated, chunks_done == chunks_total ? 100.0 : pct);
  }
  out += fmt::format("  chunks {}/{}", chunks_done, chunks_total);
  if (chunks_done < chunks_total && rows_per_s > 0) {
    out += fmt::format("  {:.0f} rows/s", rows_per_s);
    if (estimated > static_cast<double>(rows)) {
      out += "  ETA " + duration_text((estimated - static_cast<double>(rows)) / rows_per_s);
    }
  }
  if (chunks_done == chunks_total) {
    out += "  done";
  }
  return out;
}

void CopyProgress::set_note(Table& table, std::string note) {
  std::lock_guard lock(notes_mutex_);
  if (note.empty()) {
    notes_.erase(&table);
  } else {
    notes_[&table] = std::move(note);
  }
}

void CopyProgress::report(bool final) {
  const auto now = std::chrono::steady_clock::now();
  const double dt = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  std::string block;
  for (std::size_t i = 0; i < tables_.size(); ++i) {
    const auto& t = *tables_[i];
    const auto rows = t.rows.load();
    const double rate = dt > 0 ? static_cast<double>(rows - last_rows_[i]) / dt : 0;
    last_rows_[i] = rows;
    auto line = render_line(t.name, rows, t.estimated_rows, rate, t.chunks_done.load(), t.chunks_total);
    {
      std::lock_guard lock(notes_mutex_);
      if (const auto it = notes_.find(&t); it != notes_.end()) line += "  " + it->second;
    }
    if (interactive_) {
      block += "\x1b[2K" + line + "\n";
    } else if (final || t.chunks_done.load() < t.chunks_total) {
      spdlog::info("copy: {}", line);
    }
  }
  if (interactive_) {
    // Move the cursor back over the previous block and redraw it in place.
    const auto up = lines_drawn_ > 0 ? fmt::format("\x1b[{}A", lines_drawn_) : std::string();
    std::fprintf(stderr, "%s%s", up.c_str(), block.c_str());
    std::fflush(stderr);
    lines_drawn_ = tables_.size();
  }
}

}  // namespace crmsync::daemon
