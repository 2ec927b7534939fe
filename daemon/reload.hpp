#pragma once
// SIGHUP: read the config file again and apply what can change safely while running — log.level,
// apply.max_batch_delay_ms, apply.linger_us, http.ready_max_lag_s, source.max_retained_wal,
// source.heartbeat_s — logging each change; every other key that differs from the file the daemon
// started with is logged as needing a restart (and keeps its running value). A file that no
// longer loads is refused as a whole: the daemon goes on with what it has and says why.

#include <string>
#include <vector>

#include "config/pipeline_config.hpp"

namespace crmsync::daemon {

class Reloader {
 public:
  /// `path`: the file `running` was loaded from; its text now is what later edits are compared to.
  Reloader(std::string path, const config::PipelineConfig& running);

  struct Outcome {
    bool loaded = false;               // false: the file has errors (or is gone); nothing applied
    std::vector<std::string> applied;  // "log.level: info -> debug"
    std::vector<std::string> restart;  // keys that changed but need a restart
  };
  /// Called on the monitor's thread when SIGHUP has arrived; logs what it did.
  Outcome reload();

 private:
  std::string path_;
  std::string started_text_;        // the file as the daemon started with it
  config::PipelineConfig current_;  // the running values of the reloadable keys
};

}  // namespace crmsync::daemon
