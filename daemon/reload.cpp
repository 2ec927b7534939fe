#include "daemon/reload.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <fstream>
#include <set>
#include <sstream>

#include "config/loader.hpp"
#include "config/reload_diff.hpp"
#include "daemon/live_settings.hpp"
#include "daemon/logging.hpp"
#include "daemon/notify.hpp"
#include "telemetry/board.hpp"

namespace crmsync::daemon {
namespace {

// The keys reload applies. Anything else needs a restart: connections, tables, mappings, the
// slot, the state directory and the queue's size are fixed for the life of the process.
const std::set<std::string> kReloadable = {"log.level",
                                           "apply.max_batch_delay_ms",
                                           "apply.linger_us",
                                           "http.ready_max_lag_s",
                                           "source.max_retained_wal",
                                           "source.heartbeat_s"};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

template <typename T>
void change(std::vector<std::string>& applied, const char* key, T& current, const T& wanted) {
  if (current == wanted) return;
  applied.push_back(fmt::format("{}: {} -> {}", key, current, wanted));
  current = wanted;
}

}  // namespace

LiveSettings& live_settings() {
  static LiveSettings settings;
  return settings;
}

Reloader::Reloader(std::string path, const config::PipelineConfig& running)
    : path_(std::move(path)), started_text_(read_text(path_)), current_(running) {}

Reloader::Outcome Reloader::reload() {
  Outcome out;
  // RELOADING=1 ... READY=1 only once the unit is ready: a reload during start-up must not mark it so.
  const bool ready = notify_ready_sent();
  if (ready) sd_notify(0, "RELOADING=1");
  auto loaded = config::load_config_file(path_);
  if (!loaded.errors.empty()) {
    for (const auto& e : loaded.errors) spdlog::error("reload refused: {}", e.to_string());
    spdlog::error("reload: {} has errors (above); nothing was changed, the daemon runs on with its settings", path_);
    if (ready) sd_notify(0, "READY=1");
    return out;
  }
  out.loaded = true;
  const auto& next = *loaded.config;
  if (next.log.level != current_.log.level) {
    out.applied.push_back(fmt::format("log.level: {} -> {}", to_string(current_.log.level), to_string(next.log.level)));
    current_.log.level = next.log.level;
    set_log_level(next.log.level);
  }
  change(out.applied, "apply.max_batch_delay_ms", current_.apply.max_batch_delay_ms, next.apply.max_batch_delay_ms);
  change(out.applied, "apply.linger_us", current_.apply.linger_us, next.apply.linger_us);
  change(out.applied, "http.ready_max_lag_s", current_.http.ready_max_lag_s, next.http.ready_max_lag_s);
  change(out.applied, "source.max_retained_wal (bytes)", current_.source.max_retained_wal_bytes,
         next.source.max_retained_wal_bytes);
  change(out.applied, "source.heartbeat_s", current_.source.heartbeat_s, next.source.heartbeat_s);
  live_settings().set_from(current_);
  telemetry::board().set_pipeline(current_.name, current_.source.max_retained_wal_bytes);

  for (auto& key : config::changed_keys(started_text_, read_text(path_))) {
    if (!kReloadable.contains(key)) out.restart.push_back(std::move(key));
  }
  for (const auto& line : out.applied) spdlog::info("reload: {}", line);
  if (!out.restart.empty()) {
    spdlog::warn(
        "reload: {} changed in {} but take effect only at a restart (systemctl restart crmsync@{}); they keep "
        "their running values until then",
        fmt::join(out.restart, ", "), path_, current_.name);
  }
  if (out.applied.empty() && out.restart.empty()) spdlog::info("reload: {}: nothing changed", path_);
  if (ready) sd_notify(0, "READY=1");
  return out;
}

}  // namespace crmsync::daemon
