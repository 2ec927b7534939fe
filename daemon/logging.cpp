#include "daemon/logging.hpp"

#include <fmt/chrono.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

#include <nlohmann/json.hpp>

namespace crmsync::daemon {
namespace {

// One JSON object per line. The message is escaped by nlohmann::json, so a value with quotes or
// newlines cannot break the line structure (spdlog's pattern formatter does not escape).
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
    const std::chrono::sys_time<std::chrono::milliseconds> tp{std::chrono::milliseconds{ms}};
    nlohmann::json line = {
        {"ts", fmt::format("{:%FT%T}Z", tp)},
        {"level",
         std::string(spdlog::level::to_string_view(msg.level).data(), spdlog::level::to_string_view(msg.level).size())},
        {"logger", std::string(msg.logger_name.data(), msg.logger_name.size())},
        {"msg", std::string(msg.payload.data(), msg.payload.size())},
    };
    const auto text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
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

}  // namespace

void setup_logging(const config::LogConfig& log) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("crmsync", sink);
  if (log.format == config::LogFormat::Json) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  }
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
