#include "daemon/status_command.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include "checkpoint/store.hpp"
#include "daemon/observe_queries.hpp"
#include "daemon/sessions.hpp"
#include "daemon/signals.hpp"
#include "telemetry/board.hpp"
#include "telemetry/http_client.hpp"

namespace crmsync::daemon {
namespace {

using nlohmann::json;

constexpr auto kAskTimeout = std::chrono::milliseconds(3000);
constexpr int kConnectTimeoutS = 5;

struct Gathered {
  json status;
  std::string error;  // nothing could be read
};

std::optional<std::string> daemon_address(const config::PipelineConfig& cfg) {
  std::ifstream in(cfg.state_dir + "/http.address");
  std::string address;
  if (!(in >> address) || address.empty()) return std::nullopt;
  return address;
}

pq::ConnectOptions quick(pq::ConnectOptions o) {
  o.connect_timeout_s = std::min(o.connect_timeout_s > 0 ? o.connect_timeout_s : kConnectTimeoutS, kConnectTimeoutS);
  return o;
}

// Copy progress as the checkpoint records it: chunks done and the rows they copied; the total is
// the source's estimate while chunks are pending.
std::vector<telemetry::TableProgress> recorded_copy(const checkpoint::Store& store, pq::Connection* source) {
  std::vector<telemetry::TableProgress> out;
  auto chunks = store.chunks();
  if (!chunks) return out;
  std::map<std::string, telemetry::TableProgress> by_table;
  for (const auto& c : *chunks) {
    auto& t = by_table[c.table];
    t.table = c.table;
    ++t.chunks_total;
    if (c.state != checkpoint::ChunkState::Done) continue;
    ++t.chunks_done;
    t.rows_done += c.rows;
  }
  for (auto& [name, t] : by_table) {
    t.done = t.chunks_done == t.chunks_total;
    t.rows_total = t.rows_done;
    if (!t.done && source != nullptr) {
      auto est = source->exec_params("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass($1)",
                                     {name});
      if (est && est->rows() == 1 && !est->is_null(0, 0)) {
        t.rows_total = std::max<std::int64_t>(t.rows_done, std::stoll(std::string(est->get(0, 0))));
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

Gathered from_state(const config::PipelineConfig& cfg, const std::string& why_not_daemon) {
  Gathered g;
  auto store = checkpoint::Store::open_read_only(cfg.state_dir);
  if (!store) {
    g.error = store.error().message;
    return g;
  }
  std::optional<pq::Connection> source;
  if (auto c = pq::Connection::connect(quick(pq::ConnectOptions{.dsn = cfg.source.dsn,
                                                                .connect_timeout_s = cfg.source.connect_timeout_s,
                                                                .application_name = "crmsync status"}))) {
    source.emplace(std::move(c).value());
  }
  std::optional<pq::Connection> target;
  if (auto c = pq::Connection::connect(quick(bare_target_options(cfg, "crmsync status")))) {
    target.emplace(std::move(c).value());
  }

  telemetry::Board board;  // not the daemon's: this process's own, filled from the records
  board.set_pipeline(cfg.name, cfg.source.max_retained_wal_bytes);
  board.set_phase(telemetry::Phase::Stopped);
  board.set_source_connected(source.has_value());
  board.set_target_connected(target.has_value());
  std::string phase = "new";
  if (*store) {
    // A record that does not decode is said, never shown as "nothing recorded yet".
    auto p = (*store)->phase();
    auto lsn = (*store)->confirmed_lsn();
    if (!p || !lsn) {
      g.error = !p ? p.error().message : lsn.error().message;
      return g;
    }
    phase = std::string(checkpoint::to_string(*p));
    if (*lsn) {
      board.set_confirmed(**lsn);
      board.set_applied(**lsn);
      board.set_received(**lsn);
    }
    board.set_copy(recorded_copy(**store, source ? &*source : nullptr));
  }
  if (source) {
    if (auto reading = read_slot(*source, cfg.source.slot, cfg.source.max_retained_wal_bytes)) {
      board.set_source_wal(reading->source_wal);
      board.set_slot(std::move(reading->slot));
    }
  }
  if (target) {
    if (auto letters = read_dead_letters(*target, cfg)) board.set_dead_letters(std::move(*letters));
  }
  g.status = board.status_json(cfg.http.ready_max_lag_s);
  g.status.erase("started_at");
  g.status.erase("rates");
  g.status.erase("totals");
  g.status["ready"] = {{"ready", false}, {"reason", "the daemon is not running"}};
  g.status["daemon"] = {{"running", false}, {"checkpoint_phase", phase}, {"why", why_not_daemon}};
  return g;
}

Gathered gather(const config::PipelineConfig& cfg) {
  const auto address = daemon_address(cfg);
  if (!address)
    return from_state(
        cfg, fmt::format("no {}/http.address: the daemon is not running (or its http.listen is off)", cfg.state_dir));
  auto reply = telemetry::http_get(*address, "/status", kAskTimeout);
  if (!reply) return from_state(cfg, fmt::format("the daemon does not answer: {}", reply.error().message));
  if (reply->status != 200) {
    return from_state(cfg, fmt::format("http://{}/status answered {}", *address, reply->status));
  }
  Gathered g;
  try {
    g.status = json::parse(reply->body);
  } catch (const json::exception& e) {
    return from_state(cfg, fmt::format("http://{}/status is not JSON: {}", *address, e.what()));
  }
  if (!g.status.is_object()) return from_state(cfg, fmt::format("http://{}/status is not a JSON object", *address));
  // The file outlives a killed daemon, and port 0 may since have gone to another process.
  if (const auto name = g.status.find("pipeline"); name == g.status.end() || *name != cfg.name) {
    return from_state(cfg, fmt::format("http://{}/status is not pipeline {}'s (a stale {}/http.address?)", *address,
                                       cfg.name, cfg.state_dir));
  }
  g.status["daemon"] = {{"running", true}, {"address", *address}};
  return g;
}

void print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

ExitCode status_command(const config::PipelineConfig& cfg, const StatusOptions& opts) {
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  if (opts.watch) install_stop_handlers();
  while (true) {
    auto g = gather(cfg);
    if (!g.error.empty()) {
      std::fprintf(stderr, "crmsync status: %s\n", g.error.c_str());
      if (!opts.watch) return ExitCode::Failure;
    } else if (opts.json) {
      // --watch --json: one document per line, for a pipe.
      print(g.status.dump(opts.watch ? -1 : 2, ' ', false, json::error_handler_t::replace) + "\n");
    } else {
      std::string view;
      try {
        view = render_status(g.status);
      } catch (const nlohmann::json::exception& e) {  // a daemon of another version, or not ours
        view = fmt::format("crmsync status: the status document does not read as expected: {}\n", e.what());
      }
      print((opts.watch && tty ? "\x1b[H\x1b[2J" : "") + view + (opts.watch && !tty ? "\n" : ""));
    }
    if (!opts.watch) return ExitCode::Ok;
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(opts.interval_s * 1000));
    while (std::chrono::steady_clock::now() < until) {
      if (stop_requested()) return ExitCode::Ok;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

}  // namespace crmsync::daemon
