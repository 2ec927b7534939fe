#pragma once
// Copy progress for people: per table rows, %, rows/s and ETA. On a terminal a block of lines is
// redrawn every second; otherwise one log line per table every 10 seconds (no per-row logging).
// Every second the same figures go to the telemetry board (crmsync status, /metrics).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace crmsync::daemon {

class CopyProgress {
 public:
  struct Table {
    std::string name;
    double estimated_rows = 0;          // pg_class.reltuples (may be stale; -1 unknown)
    std::atomic<std::int64_t> rows{0};  // copied so far, including chunks in flight
    std::atomic<std::int64_t> chunks_done{0};
    std::int64_t chunks_total = 0;
  };

  /// `interactive`: redraw on stderr (a TTY) instead of logging.
  explicit CopyProgress(bool interactive);
  ~CopyProgress();
  CopyProgress(const CopyProgress&) = delete;
  CopyProgress& operator=(const CopyProgress&) = delete;

  Table& add_table(const std::string& name, double estimated_rows, std::int64_t chunks_total, std::int64_t rows_already,
                   std::int64_t chunks_already);
  /// A remark shown after the table's line (e.g. a lock wait); "" clears it. Any thread.
  void set_note(Table& table, std::string note);
  void start();
  /// Stops the reporter and prints the final state once.
  void finish();

  /// One line for a table, e.g. "public.contacts  1200000/2000000 rows  60%  350000 rows/s  ETA 2s".
  static std::string render_line(const std::string& name, std::int64_t rows, double estimated, double rows_per_s,
                                 std::int64_t chunks_done, std::int64_t chunks_total);

 private:
  void loop();
  void report(bool final);
  void publish();  // to the telemetry board: rows, chunks, rate per table

  bool interactive_;
  std::mutex notes_mutex_;
  std::map<const Table*, std::string> notes_;
  std::vector<std::unique_ptr<Table>> tables_;
  std::vector<std::int64_t> last_rows_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_;
  std::chrono::steady_clock::time_point published_at_;
  std::vector<std::int64_t> published_rows_;
  std::size_t lines_drawn_ = 0;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace crmsync::daemon
