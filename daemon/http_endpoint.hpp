#pragma once
// The observability endpoint of `crmsync run` (http.listen): the routes over the telemetry board.
//   /healthz  200 while the process runs
//   /readyz   200 while streaming with lag under http.ready_max_lag_s (the body says why not, 503)
//   /metrics  Prometheus text exposition
//   /status   the JSON `crmsync status --json` prints

#include <memory>

#include "config/pipeline_config.hpp"
#include "core/result.hpp"
#include "telemetry/http_server.hpp"

namespace crmsync::daemon {

/// nullptr when http.listen is off.
Result<std::unique_ptr<telemetry::HttpServer>> start_http_endpoint(const config::PipelineConfig& cfg);

}  // namespace crmsync::daemon
