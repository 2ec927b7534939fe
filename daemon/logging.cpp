#include "daemon/logging.hpp"

#include <fmt/chrono.h>
#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <regex>

#include <nlohmann/json.hpp>

#include "core/lsn.hpp"
#include "daemon/log_context.hpp"
#include "telemetry/board.hpp"

namespace crmsync::daemon {

LogContext& log_context() {
  thread_local LogContext context;
  return context;
}

namespace {

std::string g_pipeline;  // set once by setup_logging, before any other thread starts

// The first "SQLSTATE xxxxx" (as pq's errors end) and the first LSN a message names.
const std::regex& sqlstate_re() {
  static const std::regex re("SQLSTATE ([0-9A-Z]{5})");
  return re;
}
const std::regex& lsn_re() {
  // As crmsync and PostgreSQL print an LSN (%X/%X): "0/16B3F20". At least four hex digits after
  // the slash, so that "chunks 1/4" is not one.
  static const std::regex re("(?:^|[\\s(=])([0-9A-F]{1,8}/[0-9A-F]{4,8})(?![0-9A-Za-z])");
  return re;
}

// One JSON object per line: a millisecond UTC timestamp, the level, the pipeline and its phase,
// the message, and as fields of their own what the line is about (table, xid, lsn from the
// thread's LogContext or the message, sqlstate from the message). nlohmann::json escapes, so a
// value with quotes or newlines cannot break the line structure.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    // fmt 9 prints no fraction for a sys_time of milliseconds: the milliseconds are added by hand.
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
    const std::chrono::sys_seconds secs{std::chrono::seconds{ms / 1000}};
    const std::string text(msg.payload.data(), msg.payload.size());
    const auto level = spdlog::level::to_string_view(msg.level);
    nlohmann::json line = {
        {"ts", fmt::format("{:%FT%T}.{:03}Z", secs, ms % 1000)},
        {"level", std::string(level.data(), level.size())},
        {"pipeline", g_pipeline},
        {"phase", telemetry::to_string(telemetry::board().phase())},
        {"msg", text},
    };
    const auto& ctx = log_context();
    if (ctx.table != nullptr) line["table"] = *ctx.table;
    if (ctx.xid != 0) line["xid"] = ctx.xid;
    std::smatch m;
    if (ctx.lsn != 0) {
      line["lsn"] = Lsn{ctx.lsn}.to_string();
    } else if (std::regex_search(text, m, lsn_re())) {
      line["lsn"] = m[1].str();
    }
    if (std::regex_search(text, m, sqlstate_re())) line["sqlstate"] = m[1].str();
    const auto out = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(out.data(), out.data() + out.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

// "<3>" before each line: systemd's journal reads it as the syslog priority of a stderr line
// (SyslogLevelPrefix=, on by default), so `journalctl -p warning` finds crmsync's warnings.
class JournalPrefix final : public spdlog::formatter {
 public:
  explicit JournalPrefix(std::unique_ptr<spdlog::formatter> inner) : inner_(std::move(inner)) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto prefix = fmt::format("<{}>", syslog_priority(msg.level));
    dest.append(prefix.data(), prefix.data() + prefix.size());
    inner_->format(msg, dest);
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JournalPrefix>(inner_->clone()); }

 private:
  std::unique_ptr<spdlog::formatter> inner_;
};

spdlog::level::level_enum to_spdlog(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::Trace: return spdlog::level::trace;
    case config::LogLevel::Debug: return spdlog::level::debug;
    case config::LogLevel::Info: return spdlog::level::info;
    case config::LogLevel::Warn: return spdlog::level::warn;
    case config::LogLevel::Error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

// JOURNAL_STREAM is "device:inode" of the journal's stream; it counts only if stderr is still it
// (a child of a unit whose stderr was redirected inherits the variable, not the stream).
bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  struct stat st {};
  if (fstat(2, &st) != 0) return false;
  return fmt::format("{}:{}", st.st_dev, st.st_ino) == stream;
}

}  // namespace

int syslog_priority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug: return 7;
    case spdlog::level::info: return 6;
    case spdlog::level::warn: return 4;
    case spdlog::level::err: return 3;
    case spdlog::level::critical: return 2;
    case spdlog::level::off:
    case spdlog::level::n_levels: break;
  }
  return 6;
}

std::unique_ptr<spdlog::formatter> make_log_formatter(config::LogFormat format, bool journal) {
  std::unique_ptr<spdlog::formatter> f;
  if (format == config::LogFormat::Json) {
    f = std::make_unique<JsonFormatter>();
  } else if (journal) {
    // The journal stamps each line itself.
    f = std::make_unique<spdlog::pattern_formatter>("%-5l %v");
  } else {
    f = std::make_unique<spdlog::pattern_formatter>("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  }
  if (journal) return std::make_unique<JournalPrefix>(std::move(f));
  return f;
}

void setup_logging(const config::LogConfig& log, const std::string& pipeline) {
  g_pipeline = pipeline;
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("crmsync", sink);
  logger->set_formatter(make_log_formatter(log.format, stderr_is_journal()));
  logger->set_level(to_spdlog(log.level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

void set_log_level(config::LogLevel level) {
  spdlog::default_logger()->set_level(to_spdlog(level));
}

const char* to_string(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::Trace: return "trace";
    case config::LogLevel::Debug: return "debug";
    case config::LogLevel::Info: return "info";
    case config::LogLevel::Warn: return "warn";
    case config::LogLevel::Error: return "error";
  }
  return "info";
}

}  // namespace crmsync::daemon
