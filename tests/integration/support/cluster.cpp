#include "support/cluster.hpp"

#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "support/process.hpp"

namespace crmsync::testing {
namespace {

std::mutex g_mutex;
std::set<std::string>& live_clusters() {
  static std::set<std::string> names;
  return names;
}

// If the test process exits without running destructors (a failed REQUIRE in a static, exit()),
// still stop what we started so no cluster outlives the test run.
void stop_leftovers() {
  std::lock_guard lock(g_mutex);
  for (const auto& name : live_clusters()) {
    run_process({script_path("pg-cluster"), "stop", name});
  }
  live_clusters().clear();
}

std::string unique_name(const std::string& label) {
  static std::atomic<int> counter{0};
  return fmt::format("it-{}-{}-{}", label, getpid(), counter++);
}

}  // namespace

std::string script_path(const std::string& name) { return std::string(CRMSYNC_SOURCE_DIR) + "/scripts/" + name; }
std::string crmsync_binary() { return CRMSYNC_BINARY; }

PgCluster::PgCluster(const std::string& label, const std::vector<std::string>& settings) : name_(unique_name(label)) {
  static const bool registered = [] { return std::atexit(stop_leftovers) == 0; }();
  (void)registered;
  std::string last_error;
  // A free port can be taken by someone else between the probe and the server's bind: retry.
  for (int attempt = 0; attempt < 3; ++attempt) {
    const auto probe = run_process({script_path("pg-cluster"), "free-port"});
    if (probe.exit_code != 0) {
      throw std::runtime_error("pg-cluster free-port failed: " + probe.err);
    }
    port_ = std::stoi(probe.out);
    std::vector<std::string> argv{script_path("pg-cluster"), "start", name_, std::to_string(port_)};
    for (const auto& s : settings) {
      argv.push_back("-c");
      argv.push_back(s);
    }
    {
      std::lock_guard lock(g_mutex);
      live_clusters().insert(name_);
    }
    const auto started = run_process(argv);
    if (started.exit_code == 0) {
      return;
    }
    last_error = started.err;
  }
  run_process({script_path("pg-cluster"), "stop", name_});
  throw std::runtime_error("could not start cluster " + name_ + ": " + last_error);
}

PgCluster::~PgCluster() {
  run_process({script_path("pg-cluster"), "stop", name_});
  std::lock_guard lock(g_mutex);
  live_clusters().erase(name_);
}

std::string PgCluster::dsn(const std::string& dbname) const {
  return fmt::format("host=127.0.0.1 port={} user=postgres dbname={}", port_, dbname);
}

pq::Connection PgCluster::connect(const std::string& dbname) const {
  pq::ConnectOptions options;
  options.dsn = dsn(dbname);
  options.application_name = "crmsync-test";
  // Test sources are UTF-8: say so, also to a database in another encoding (LATIN1 legacy tests).
  options.settings = {{"client_encoding", "UTF8"}};
  auto conn = pq::Connection::connect(options);
  if (!conn) {
    throw std::runtime_error(conn.error().message);
  }
  return std::move(conn).value();
}

void PgCluster::exec(const std::string& sql, const std::string& dbname) const {
  auto conn = connect(dbname);
  auto res = conn.exec(sql);
  if (!res) {
    throw std::runtime_error(res.error().message);
  }
}

std::string PgCluster::query_value(const std::string& sql, const std::string& dbname) const {
  auto conn = connect(dbname);
  auto res = conn.exec(sql);
  if (!res) {
    throw std::runtime_error(res.error().message);
  }
  return std::string(res->get(0, 0));
}

}  // namespace crmsync::testing
