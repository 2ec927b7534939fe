// systemd's side of a running daemon: the notify protocol (READY, STATUS, WATCHDOG, STOPPING) on a
// NOTIFY_SOCKET the test listens on, as systemd would, and SIGHUP's reload.

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/pipeline.hpp"
#include "support/wait.hpp"

using namespace crmsync::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A datagram socket that records every notification with its arrival time.
class NotifyListener {
 public:
  explicit NotifyListener(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path.size() < sizeof(addr.sun_path));
    std::copy(path.begin(), path.end(), addr.sun_path);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    thread_ = std::thread([this] { receive(); });
  }
  ~NotifyListener() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  NotifyListener(const NotifyListener&) = delete;
  NotifyListener& operator=(const NotifyListener&) = delete;

  struct Message {
    Clock::time_point at;
    std::string text;
  };
  std::vector<Message> messages() const {
    const std::lock_guard lock(mutex_);
    return messages_;
  }
  /// Messages holding `line` (e.g. "WATCHDOG=1") that arrived in [from, to).
  int count(const std::string& line, Clock::time_point from, Clock::time_point to = Clock::time_point::max()) const {
    int n = 0;
    for (const auto& m : messages()) n += m.at >= from && m.at < to && has_line(m.text, line) ? 1 : 0;
    return n;
  }
  std::optional<Clock::time_point> first(const std::string& line) const {
    for (const auto& m : messages()) {
      if (has_line(m.text, line)) return m.at;
    }
    return std::nullopt;
  }
  /// The newest STATUS= text.
  std::string last_status() const {
    std::string out;
    for (const auto& m : messages()) {
      for (std::size_t at = 0; (at = m.text.find("STATUS=", at)) != std::string::npos; at += 7) {
        out = m.text.substr(at + 7, m.text.find('\n', at) - at - 7);
      }
    }
    return out;
  }

 private:
  static bool has_line(const std::string& text, const std::string& line) {
    return ("\n" + text + "\n").find("\n" + line + "\n") != std::string::npos;
  }
  void receive() {
    char buf[4096];
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const auto n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) continue;
      const std::lock_guard lock(mutex_);
      messages_.push_back({Clock::now(), std::string(buf, static_cast<std::size_t>(n))});
    }
  }

  std::string path_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<Message> messages_;
  std::thread thread_;
};

}  // namespace

TEST_CASE("systemd notify: READY once both servers answer, STATUS, WATCHDOG stops while apply is stalled, STOPPING") {
  PipelineFixture p("notify");
  p.source.exec(
      "CREATE TABLE public.contacts (id bigint PRIMARY KEY, name text); "
      "INSERT INTO public.contacts SELECT g, 'c' || g FROM generate_series(1, 100) g;");
  p.target.exec("CREATE TABLE public.contacts (id bigint PRIMARY KEY, name text);");
  p.write_config({"public.contacts"});
  NotifyListener notify(p.dir.path() + "/notify.sock");
  const auto pg_cluster = script_path("pg-cluster");
  const auto target_port = std::to_string(p.target.port());
  const auto source_port = std::to_string(p.source.port());
  REQUIRE(run_process({pg_cluster, "stop-server", p.target.name(), target_port}).exit_code == 0);
  REQUIRE(run_process({pg_cluster, "stop-server", p.source.name(), source_port}).exit_code == 0);

  // WatchdogSec=2: pings every 250 ms; while streaming only if the apply loop moved within 1 s.
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()},
                        {{"NOTIFY_SOCKET", p.dir.path() + "/notify.sock"}, {"WATCHDOG_USEC", "2000000"}});
  const auto started = Clock::now();
  std::this_thread::sleep_for(3s);
  CHECK_FALSE(notify.first("READY=1").has_value());  // neither server answers yet
  CHECK(notify.count("WATCHDOG=1", started) >= 6);   // but the process is alive
  REQUIRE(run_process({pg_cluster, "start-server", p.target.name(), target_port}).exit_code == 0);
  std::this_thread::sleep_for(3s);
  CHECK_FALSE(notify.first("READY=1").has_value());  // the target answers, the source does not
  // Taken before the start: the daemon may connect before pg_ctl has returned.
  const auto source_starting = Clock::now();
  REQUIRE(run_process({pg_cluster, "start-server", p.source.name(), source_port}).exit_code == 0);
  REQUIRE(wait_until([&] { return notify.first("READY=1").has_value(); }, 30s));
  CHECK(*notify.first("READY=1") >= source_starting);
  REQUIRE(wait_until([&] { return streaming(p); }, 60s));
  p.source.exec("INSERT INTO public.contacts VALUES (1000, 'live')");
  REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 101; }, 30s));
  CHECK(wait_until([&] { return notify.last_status().find("streaming, lag ") == 0; }, 10s));
  CAPTURE(notify.last_status());
  CHECK(notify.last_status().find(" changes/s") != std::string::npos);

  // An idle source is not a hung apply: the pings go on.
  const auto idle_from = Clock::now();
  std::this_thread::sleep_for(3s);
  CHECK(notify.count("WATCHDOG=1", idle_from) >= 8);

  // The target's table is locked: the apply blocks on it and the pings stop (systemd would
  // restart the daemon after WatchdogSec).
  auto locker = p.target.connect();
  REQUIRE(locker.exec("BEGIN; LOCK TABLE public.contacts IN ACCESS EXCLUSIVE MODE").ok());
  const auto locked = Clock::now();
  p.source.exec("INSERT INTO public.contacts VALUES (1001, 'stalled')");
  std::this_thread::sleep_for(4s);
  const int stalled_pings = notify.count("WATCHDOG=1", locked + 2s, locked + 4s);
  CHECK(stalled_pings == 0);
  REQUIRE(locker.exec("COMMIT").ok());
  const auto released = Clock::now();
  REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 102; }, 30s));
  std::this_thread::sleep_for(2s);
  CHECK(notify.count("WATCHDOG=1", released) >= 4);  // resumed

  run.signal(SIGTERM);
  const auto done = run.wait();
  CAPTURE(done.err);
  CHECK(done.exit_code == 0);
  CHECK(notify.first("STOPPING=1").has_value());
  CHECK(notify.count("READY=1", started) == 1);
}

TEST_CASE("SIGHUP: reloads the log level and batch settings, names the keys that need a restart, refuses a bad file") {
  PipelineFixture p("sighup");
  p.source.exec("CREATE TABLE public.contacts (id bigint PRIMARY KEY, name text);");
  p.target.exec("CREATE TABLE public.contacts (id bigint PRIMARY KEY, name text);");
  // write_config sets log.level debug; this test starts at info.
  const auto info = p.write_config_with(p.source.dsn(), p.target.dsn(), {"public.contacts"});
  BackgroundProcess run({crmsync_binary(), "run", "-c", info});
  REQUIRE(wait_until([&] { return streaming(p); }, 60s));
  p.source.exec("INSERT INTO public.contacts VALUES (1, 'before')");
  REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 1; }, 30s));

  // A file that no longer loads changes nothing.
  const auto good = p.write_config_with(p.source.dsn(), p.target.dsn(), {"public.contacts"},
                                        "log:\n  level: debug\napply:\n  linger_us: 250\n");
  const auto broken_text = std::string("name: [unclosed\n");
  {
    std::ifstream in(good);
    std::stringstream ss;
    ss << in.rdbuf();
    const auto good_text = ss.str();
    // Broken first, then the good edit, plus a key that needs a restart.
    std::ofstream(good) << broken_text;
    run.signal(SIGHUP);
    std::this_thread::sleep_for(1500ms);
    p.source.exec("INSERT INTO public.contacts VALUES (2, 'still info')");
    REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 2; }, 30s));
    std::ofstream(good) << good_text << "snapshot:\n  parallel: 3\n";
  }
  run.signal(SIGHUP);
  std::this_thread::sleep_for(1500ms);
  p.source.exec("INSERT INTO public.contacts VALUES (3, 'debug now')");
  REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 3; }, 30s));
  std::this_thread::sleep_for(500ms);
  CHECK(run.running());  // SIGHUP does not end it

  run.signal(SIGTERM);
  const auto done = run.wait();
  CAPTURE(done.err);
  CHECK(done.exit_code == 0);
  const auto refused = done.err.find("reload refused: ");
  const auto reloaded = done.err.find("reload: log.level: info -> debug");
  REQUIRE(refused != std::string::npos);
  REQUIRE(reloaded != std::string::npos);
  CHECK(refused < reloaded);
  CHECK(done.err.find("reload: apply.linger_us: 1000 -> 250") != std::string::npos);
  CHECK(done.err.find("reload: snapshot.parallel changed in ") != std::string::npos);
  CHECK(done.err.find("take effect only at a restart") != std::string::npos);
  // Debug lines (one per target commit) appear only after the reload.
  const auto first_debug = done.err.find("apply: committed ");
  REQUIRE(first_debug != std::string::npos);
  CHECK(first_debug > reloaded);
}

TEST_CASE("log.format json: every line parses, with ms timestamps, the phase, and table, xid and lsn as fields") {
  PipelineFixture p("jsonlog");
  p.source.exec(
      "CREATE TABLE public.contacts (id bigint PRIMARY KEY, name text); "
      "INSERT INTO public.contacts SELECT g, 'c' || g FROM generate_series(1, 100) g;");
  p.target.exec("CREATE TABLE public.contacts (id bigint PRIMARY KEY, name text);");
  const auto config = p.write_config_with(p.source.dsn(), p.target.dsn(), {"public.contacts"},
                                          "log:\n  level: debug\n  format: json\n");
  BackgroundProcess run({crmsync_binary(), "run", "-c", config});
  REQUIRE(wait_until([&] { return streaming(p); }, 60s));
  p.source.exec("INSERT INTO public.contacts VALUES (1000, 'live')");
  REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 101; }, 30s));
  const auto xid = p.source.query_value("SELECT xmin::text FROM public.contacts WHERE id = 1000");
  run.signal(SIGTERM);
  const auto done = run.wait();
  REQUIRE(done.exit_code == 0);
  std::istringstream lines(done.err);
  int n = 0;
  bool copy_line = false, apply_line = false, streaming_phase = false;
  for (std::string l; std::getline(lines, l); ++n) {
    CAPTURE(l);
    const auto j = nlohmann::json::parse(l);  // throws (fails the test) on a line that is not JSON
    CHECK(j["ts"].get<std::string>().size() == std::string("2026-12-04T19:29:35.123Z").size());
    CHECK(j["pipeline"] == "it_pipeline");
    CHECK(j.contains("level"));
    const auto msg = j["msg"].get<std::string>();
    if (msg.starts_with("copied public.contacts chunk ")) copy_line = j["table"] == "public.contacts";
    if (msg.starts_with("apply: committed ") && j.value("xid", 0U) == std::stoul(xid)) {
      apply_line = j.contains("lsn") && j["phase"] == "streaming";
    }
    streaming_phase = streaming_phase || j["phase"] == "streaming";
  }
  CHECK(n >= 5);
  CHECK(copy_line);
  CHECK(apply_line);
  CHECK(streaming_phase);
}
