#pragma once
// The settings SIGHUP may change while the daemon runs (daemon/reload.hpp), as atomics the
// threads that use them read at each use: the apply loop (batch timing, once per batch), the
// monitor (heartbeat, the retained-WAL limit) and the endpoint (/readyz's lag threshold). Every
// other setting is fixed at start; the config itself stays immutable.

#include <atomic>
#include <cstdint>

#include "config/pipeline_config.hpp"

namespace crmsync::daemon {

struct LiveSettings {
  std::atomic<int> max_batch_delay_ms{50};
  std::atomic<int> linger_us{1000};
  std::atomic<int> ready_max_lag_s{60};
  std::atomic<int> heartbeat_s{10};
  std::atomic<std::int64_t> max_retained_wal_bytes{0};

  void set_from(const config::PipelineConfig& cfg) {
    max_batch_delay_ms.store(cfg.apply.max_batch_delay_ms);
    linger_us.store(cfg.apply.linger_us);
    ready_max_lag_s.store(cfg.http.ready_max_lag_s);
    heartbeat_s.store(cfg.source.heartbeat_s);
    max_retained_wal_bytes.store(cfg.source.max_retained_wal_bytes);
  }
};

/// The process's settings; `crmsync run` sets them from its config before any thread starts.
LiveSettings& live_settings();

}  // namespace crmsync::daemon
