// The running daemon's HTTP endpoint (telemetry/, daemon/http_endpoint.*): /metrics parses as
// the Prometheus text format and its counters and lag move under a workload; /readyz flips when
// the target stops; /status carries the same figures.

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/pipeline.hpp"
#include "support/wait.hpp"

using namespace crmsync::testing;
using namespace std::chrono_literals;

namespace {

struct Reply {
  int status = 0;
  std::string body;
};

// One GET over a plain socket (HTTP/1.0: the server closes after the response).
Reply http_get(const std::string& address, const std::string& path) {
  const auto colon = address.rfind(':');
  const int port = std::stoi(address.substr(colon + 1));
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr);
  Reply r;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return r;
  }
  const auto req = fmt::format("GET {} HTTP/1.0\r\nHost: x\r\n\r\n", path);
  (void)::write(fd, req.data(), req.size());
  std::string all;
  char buf[8192];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) all.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  if (all.size() < 12) return r;
  r.status = std::stoi(all.substr(9, 3));
  const auto body = all.find("\r\n\r\n");
  if (body != std::string::npos) r.body = all.substr(body + 4);
  return r;
}

// A strict reader of the Prometheus text format (0.0.4): every line is a HELP or TYPE comment or
// a sample `name{label="value",...} number`; a sample's family was typed before it. Returns the
// samples as "name{labels}" -> value; throws on any malformed line.
std::map<std::string, double> parse_prometheus(const std::string& text) {
  static const std::regex help(R"(^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$)");
  static const std::regex type(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
  static const std::regex sample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*)?\})? ([-+]?([0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?|Inf|NaN))( [0-9]+)?$)");
  std::map<std::string, double> out;
  std::map<std::string, std::string> types;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    std::smatch m;
    if (std::regex_match(line, m, type)) {
      types[m[1]] = m[2];
      continue;
    }
    if (std::regex_match(line, help)) continue;
    if (!std::regex_match(line, m, sample))
      throw std::runtime_error(fmt::format("line {}: not Prometheus text: {}", n, line));
    std::string family = m[1];
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s(suffix);
      if (!types.contains(family) && family.size() > s.size() && family.ends_with(s)) {
        family = family.substr(0, family.size() - s.size());
      }
    }
    if (!types.contains(family)) throw std::runtime_error(fmt::format("line {}: {} has no TYPE before it", n, family));
    const std::string v = m[8];
    out[std::string(m[1]) + std::string(m[2])] = v == "+Inf" || v == "Inf" ? 1e308 : std::stod(v);
  }
  return out;
}

std::string http_address(const PipelineFixture& p) {
  std::ifstream in(p.state_dir() + "/http.address");
  std::string a;
  std::getline(in, a);
  return a;
}

double sample(const std::map<std::string, double>& m, const std::string& key) {
  const auto it = m.find(key);
  return it == m.end() ? -1 : it->second;
}

}  // namespace

TEST_CASE("observe: /metrics parses as Prometheus text and moves under load, /readyz flips when the target stops") {
  PipelineFixture p("observe");
  p.source.exec(
      "CREATE TABLE public.contacts (id bigint PRIMARY KEY, name text); "
      "INSERT INTO public.contacts SELECT g, 'c' || g FROM generate_series(1, 1000) g;");
  p.target.exec("CREATE TABLE public.contacts (id bigint PRIMARY KEY, name text);");
  p.write_config({"public.contacts"}, "http:\n  listen: 127.0.0.1:0\n  ready_max_lag_s: 5\n");
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  if (!wait_until([&] { return streaming(p) && !http_address(p).empty(); }, 60s)) {
    run.signal(SIGTERM);
    const auto r = run.wait();
    FAIL("not streaming with an endpoint: " << r.err);
  }
  const auto at = http_address(p);
  CHECK(http_get(at, "/healthz").status == 200);
  CHECK(http_get(at, "/nope").status == 404);
  REQUIRE(wait_until([&] { return http_get(at, "/readyz").status == 200; }, 30s));

  const auto before = parse_prometheus(http_get(at, "/metrics").body);
  CHECK(sample(before, R"(crmsync_phase{phase="streaming"})") == 1);
  CHECK(sample(before, "crmsync_slot_retained_wal_bytes") >= 0);
  for (int i = 0; i < 20; ++i) {
    p.source.exec(
        fmt::format("INSERT INTO public.contacts SELECT g, 'n' FROM generate_series({}, {}) g; "
                    "UPDATE public.contacts SET name = 'u' WHERE id <= {};",
                    2000 + i * 10, 2009 + i * 10, i + 1));
  }
  REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 1200; }, 30s));
  std::map<std::string, double> after;
  REQUIRE(wait_until(
      [&] {
        after = parse_prometheus(http_get(at, "/metrics").body);
        return sample(after, R"(crmsync_changes_applied_total{op="update",table="public.contacts"})") >= 210;
      },
      10s));
  CHECK(sample(after, R"(crmsync_changes_applied_total{op="insert",table="public.contacts"})") == 200);
  CHECK(sample(after, "crmsync_source_transactions_total") >= 20);
  CHECK(sample(after, "crmsync_target_commits_total") >= 1);
  CHECK(sample(after, "crmsync_applied_lsn_bytes") > sample(before, "crmsync_applied_lsn_bytes"));
  CHECK(sample(after, R"(crmsync_transaction_lag_seconds_count{stage="total"})") >= 20);
  // Heartbeats (every 10 s) arrive on this idle source: the lag stays small, it does not grow.
  REQUIRE(wait_until(
      [&] { return sample(parse_prometheus(http_get(at, "/metrics").body), "crmsync_heartbeat_age_seconds") >= 0; },
      25s));
  std::this_thread::sleep_for(3s);
  CHECK(sample(parse_prometheus(http_get(at, "/metrics").body), "crmsync_lag_seconds") < 2.5);

  const auto status = nlohmann::json::parse(http_get(at, "/status").body);
  CHECK(status["phase"] == "streaming");
  CHECK(status["pipeline"] == "it_pipeline");
  CHECK(status["totals"]["changes"].get<std::int64_t>() >= 410);
  CHECK(status["copy"].size() == 1);
  CHECK(status["copy"][0]["rows_done"] == 1000);
  CHECK(status["slot"]["found"] == true);

  // The target goes away: /readyz says so (the endpoint itself stays up).
  REQUIRE(run_process({script_path("pg-cluster"), "stop-server", p.target.name(), std::to_string(p.target.port())})
              .exit_code == 0);
  Reply ready;
  CHECK(wait_until(
      [&] {
        ready = http_get(at, "/readyz");
        return ready.status == 503;
      },
      30s));
  CAPTURE(ready.body);
  CHECK(ready.body.find("target") != std::string::npos);
  CHECK(http_get(at, "/healthz").status == 200);
  REQUIRE(run_process({script_path("pg-cluster"), "start-server", p.target.name(), std::to_string(p.target.port())})
              .exit_code == 0);
  CHECK(wait_until([&] { return http_get(at, "/readyz").status == 200; }, 60s));
  run.signal(SIGTERM);
  const auto done = run.wait();
  CAPTURE(done.err);
  CHECK(done.exit_code == 0);
}

TEST_CASE("observe: slot safety: retained WAL over source.max_retained_wal warns, an invalidated slot is fatal") {
  PipelineFixture p("slotsafe");
  // The legacy CRM's DBA has capped slots at 1 MB: a stream held up loses its slot at the next checkpoint.
  p.source.exec("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
  p.source.exec("SELECT pg_reload_conf()");
  p.source.exec(
      "CREATE TABLE public.contacts (id bigint PRIMARY KEY, name text); CREATE TABLE public.nightly (v int); "
      "INSERT INTO public.contacts SELECT g, 'c' || g FROM generate_series(1, 100) g;");
  p.target.exec("CREATE TABLE public.contacts (id bigint PRIMARY KEY, name text);");
  const auto config = p.dir.write("crmsync.yaml", fmt::format(R"yaml(name: it_pipeline
state_dir: {}
http:
  listen: 127.0.0.1:0
source:
  dsn: "{}"
  tables: [public.contacts]
  max_retained_wal: 1MB
  heartbeat_s: 1
target:
  dsn: "{}"
)yaml",
                                                              p.state_dir(), p.source.dsn(), p.target.dsn()));
  BackgroundProcess run({crmsync_binary(), "run", "-c", config});
  REQUIRE(wait_until([&] { return streaming(p) && !http_address(p).empty(); }, 60s));
  const auto at = http_address(p);
  REQUIRE(wait_until([&] { return http_get(at, "/readyz").status == 200; }, 30s));
  CHECK(sample(parse_prometheus(http_get(at, "/metrics").body), "crmsync_slot_retained_wal_over_limit") == 0);

  // The target is locked (its nightly maintenance): the apply waits, the slot holds its WAL while
  // the source writes on.
  auto locker = p.target.connect();
  REQUIRE(locker.exec("BEGIN; LOCK TABLE public.contacts IN ACCESS EXCLUSIVE MODE").ok());
  p.source.exec("INSERT INTO public.contacts VALUES (1000, 'held up')");
  for (int i = 0; i < 3; ++i) {
    p.source.exec("INSERT INTO public.nightly SELECT g FROM generate_series(1, 1000) g");
    p.source.exec("SELECT pg_switch_wal()");
  }
  std::map<std::string, double> m;
  CHECK(wait_until(
      [&] {
        m = parse_prometheus(http_get(at, "/metrics").body);
        // Both: the monitor (every 5 s) may first see the slot past 1 MB before the WAL switches
        // have made it unreserved.
        return sample(m, "crmsync_slot_retained_wal_over_limit") == 1 &&
               sample(m, R"(crmsync_slot_wal_status{status="unreserved"})") == 1;
      },
      20s));
  CHECK(sample(m, "crmsync_slot_retained_wal_bytes") > 1024 * 1024);  // over the 1 MB limit (sampled every 5 s)
  CHECK(sample(m, R"(crmsync_slot_wal_status{status="unreserved"})") == 1);
  const auto status = nlohmann::json::parse(http_get(at, "/status").body);
  CHECK(status["slot"]["over_limit"] == true);
  CHECK(status["slot"]["max_slot_wal_keep_size_mb"] == 1);
  const auto ready = http_get(at, "/readyz");
  CAPTURE(ready.body);
  CHECK(ready.body.find("warning: the slot's WAL is unreserved") != std::string::npos);

  // The next checkpoint removes that WAL: the slot is lost. The daemon says how to recover and
  // stops for good (exit 65: systemd does not restart it), once the apply it was in has ended.
  p.source.exec("CHECKPOINT");
  REQUIRE(
      wait_until([&] { return p.source.query_value("SELECT wal_status FROM pg_replication_slots") == "lost"; }, 30s));
  std::this_thread::sleep_for(6s);  // the monitor looks every 5 s
  REQUIRE(locker.exec("COMMIT").ok());
  REQUIRE(wait_until([&] { return !run.running(); }, 60s));
  const auto done = run.wait();
  CAPTURE(done.err);
  CHECK(done.exit_code == 65);
  CHECK(done.err.find("over source.max_retained_wal (1 MB)") != std::string::npos);
  CHECK(done.err.find("wal_status is unreserved") != std::string::npos);
  CHECK(done.err.find("replication slot \"crmsync_it_pipeline\" is lost (wal_status lost)") != std::string::npos);
  CHECK(done.err.find("raise max_slot_wal_keep_size on the source") != std::string::npos);

  // Started again: refused at once with the same message, never a silent copy from scratch.
  const auto again = p.crmsync({"run"});
  CHECK(again.exit_code == 65);
  CHECK(again.err.find("is lost (wal_status lost)") != std::string::npos);
  CHECK(row_count(p.target, "public.contacts") >= 100);
}
