#pragma once
// What a log line is about, for `log.format: json`'s fields: the table, the source transaction and
// its LSN the current thread works on. Thread-local (spdlog formats on the calling thread, our
// logger is synchronous), set with plain stores where the work starts (a copy worker's chunk, the
// apply loop's Begin), so the data path pays nothing per row and no string is built until a line
// is actually logged.

#include <cstdint>
#include <string>

namespace crmsync::daemon {

struct LogContext {
  const std::string* table = nullptr;  // must outlive its use (the config's or the plan's name)
  std::uint32_t xid = 0;               // 0: none
  std::uint64_t lsn = 0;               // 0: none
};

LogContext& log_context();

/// Sets the table for a scope (a chunk), restoring what was there before.
class LogTableScope {
 public:
  explicit LogTableScope(const std::string& table) : before_(log_context().table) { log_context().table = &table; }
  ~LogTableScope() { log_context().table = before_; }
  LogTableScope(const LogTableScope&) = delete;
  LogTableScope& operator=(const LogTableScope&) = delete;

 private:
  const std::string* before_;
};

}  // namespace crmsync::daemon
