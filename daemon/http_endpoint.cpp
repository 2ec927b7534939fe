#include "daemon/http_endpoint.hpp"

#include <spdlog/spdlog.h>

#include "daemon/live_settings.hpp"
#include "telemetry/board.hpp"

namespace crmsync::daemon {

Result<std::unique_ptr<telemetry::HttpServer>> start_http_endpoint(const config::PipelineConfig& cfg) {
  if (cfg.http.listen == "off") return std::unique_ptr<telemetry::HttpServer>{};
  auto server = telemetry::HttpServer::start(cfg.http.listen, [](std::string_view path) {
    auto& board = telemetry::board();
    const int max_lag = live_settings().ready_max_lag_s.load();  // SIGHUP may change it
    if (path == "/healthz") return telemetry::HttpResponse{200, "text/plain; charset=utf-8", "ok\n"};
    if (path == "/readyz") {
      const auto r = board.readiness(max_lag);
      return telemetry::HttpResponse{
          r.ready ? 200 : 503, "text/plain; charset=utf-8",
          (r.ready ? (r.reason.empty() ? "ready" : "ready; " + r.reason) : "not ready: " + r.reason) + "\n"};
    }
    if (path == "/metrics") {
      return telemetry::HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", board.metrics_text()};
    }
    if (path == "/status") {
      return telemetry::HttpResponse{
          200, "application/json",
          board.status_json(max_lag).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"};
    }
    return telemetry::HttpResponse{404, "text/plain; charset=utf-8",
                                   "not found; try /healthz, /readyz, /metrics or /status\n"};
  });
  if (!server) return server.take_error();
  spdlog::info("http: serving /healthz /readyz /metrics /status on {}", (*server)->address());
  return server;
}

}  // namespace crmsync::daemon
