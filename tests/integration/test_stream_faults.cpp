// Streaming under faults (issue #4): kill -9 at random moments under a write workload, a source
// restart, a target outage, a large transaction, idle slots.

#include <doctest/doctest.h>

#include <atomic>
#include <csignal>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "support/pipeline.hpp"
#include "support/wait.hpp"

using namespace crmsync::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE public.accounts (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, n int NOT NULL DEFAULT 0,
                              note text);
)sql";

// A continuous mixed workload on the source, in its own thread, until stopped.
class Workload {
 public:
  explicit Workload(const PgCluster& source) : source_(source) {
    thread_ = std::thread([this] { loop(); });
  }
  ~Workload() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  [[nodiscard]] int transactions() const { return done_.load(); }

 private:
  void loop() {
    std::optional<crmsync::pq::Connection> conn;
    for (int i = 1; !stop_; ++i) {
      if (!conn) {
        try {
          conn.emplace(source_.connect());
        } catch (const std::exception&) {
          std::this_thread::sleep_for(100ms);  // the source is restarting
          continue;
        }
      }
      std::string sql;
      switch (i % 6) {
        case 0: sql = fmt::format("DELETE FROM public.accounts WHERE id = {}", 1000000 + i - 4); break;
        case 1:
          sql = fmt::format(
              "BEGIN; INSERT INTO public.accounts (id, email) VALUES ({0}, 'multi{0}@x'); UPDATE public.accounts SET "
              "n = n + 1 WHERE id = {1}; COMMIT;",
              1000000 + i, 1 + (i * 37) % 500);
          break;
        case 2:
          sql = fmt::format("UPDATE public.accounts SET id = id + 5000000 WHERE id = {}", 1000000 + i - 1);
          break;
        case 3: sql = "BEGIN; INSERT INTO public.accounts (id, email) VALUES (-1, 'rolled back'); ROLLBACK;"; break;
        default:
          sql = fmt::format("INSERT INTO public.accounts (id, email, note) VALUES ({0}, 'w{0}@x', md5('{0}'))",
                            1000000 + i);
      }
      if (auto r = conn->exec(sql); !r) {
        if (r.error().code == crmsync::ErrorCode::ConnectionFailed) conn.reset();
        continue;
      }
      done_.fetch_add(1);
    }
  }
  const PgCluster& source_;
  std::atomic<bool> stop_{false};
  std::atomic<int> done_{0};
  std::thread thread_;
};

bool accounts_equal(const PipelineFixture& p) {
  return table_checksum(p.target, "public.accounts", "id") == table_checksum(p.source, "public.accounts", "id");
}

void seed(PipelineFixture& p, int rows) {
  p.source.exec(kSchema);
  p.target.exec(kSchema);
  p.source.exec(fmt::format(
      "INSERT INTO public.accounts (id, email) SELECT g, 'seed' || g || '@x' FROM generate_series(1, {}) g", rows));
}

}  // namespace

TEST_CASE("stream faults: kill -9 at 12 random moments under load loses and doubles nothing") {
  PipelineFixture p("kill-stream");
  seed(p, 500);
  p.write_config({"public.accounts"}, "apply:\n  max_batch_delay_ms: 10\n");
  REQUIRE(p.crmsync({"run", "--stop-after-copy"}).exit_code == 0);
  Workload load(p.source);
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> delay_ms(100, 1500);
  for (int round = 0; round < 12; ++round) {
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    REQUIRE(run.running());
    run.signal(SIGKILL);
    const auto r = run.wait();
    CAPTURE(round);
    CAPTURE(r.err);
    CHECK(r.exit_code == 128 + SIGKILL);
    // A replayed insert would hit the primary key or the unique email and stop the apply.
    CHECK(r.err.find("duplicate key") == std::string::npos);
    CHECK(r.err.find("apply stopped") == std::string::npos);
  }
  load.stop();
  CHECK(load.transactions() > 100);
  BackgroundProcess final_run({crmsync_binary(), "run", "-c", p.config_path()});
  CHECK(wait_until([&] { return accounts_equal(p); }, 90s));
  final_run.signal(SIGTERM);
  const auto r = final_run.wait();
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("duplicate key") == std::string::npos);
  CHECK(r.err.find("found no row on the target") == std::string::npos);
}

TEST_CASE("stream faults: a source restart and a 30-second target outage are ridden out") {
  PipelineFixture p("outage");
  seed(p, 200);
  p.write_config({"public.accounts"}, "apply:\n  max_batch_delay_ms: 10\n");
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  REQUIRE(wait_until([&] { return accounts_equal(p); }, 60s));
  Workload load(p.source);

  // Source restart while streaming.
  std::this_thread::sleep_for(500ms);
  const auto restarted =
      run_process({script_path("pg-cluster"), "restart", p.source.name(), std::to_string(p.source.port())});
  CAPTURE(restarted.err);
  REQUIRE(restarted.exit_code == 0);
  std::this_thread::sleep_for(2s);
  REQUIRE(run.running());

  // Target down for 30 seconds while the source keeps writing.
  REQUIRE(run_process({script_path("pg-cluster"), "stop-server", p.target.name(), std::to_string(p.target.port())})
              .exit_code == 0);
  std::this_thread::sleep_for(30s);
  CHECK(run.running());
  REQUIRE(run_process({script_path("pg-cluster"), "start-server", p.target.name(), std::to_string(p.target.port())})
              .exit_code == 0);
  std::this_thread::sleep_for(1s);
  load.stop();
  CHECK(wait_until([&] { return accounts_equal(p); }, 90s));
  CHECK(run.running());
  // The source never dropped us for silence: our walsender is connected.
  CHECK(p.source.query_value("SELECT active FROM pg_replication_slots WHERE slot_name = 'crmsync_it_pipeline'") == "t");
  run.signal(SIGTERM);
  const auto r = run.wait();
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("source replication connection lost") != std::string::npos);
  CHECK(r.err.find("target unavailable") != std::string::npos);
}

TEST_CASE("stream faults: an idle publication does not pin WAL on a busy database") {
  PipelineFixture p("idle");
  seed(p, 10);
  p.source.exec("CREATE TABLE public.other (id serial PRIMARY KEY, pad text)");
  p.write_config({"public.accounts"});
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  REQUIRE(wait_until([&] { return accounts_equal(p); }, 60s));
  // Write WAL only to a table outside the publication.
  for (int i = 0; i < 20; ++i) {
    p.source.exec("INSERT INTO public.other (pad) SELECT repeat('x', 1000) FROM generate_series(1, 500)");
  }
  const auto written = p.source.query_value("SELECT pg_current_wal_lsn()::text");
  CHECK(wait_until(
      [&] {
        return p.source.query_value(fmt::format("SELECT confirmed_flush_lsn >= '{}'::pg_lsn FROM pg_replication_slots "
                                                "WHERE slot_name = 'crmsync_it_pipeline'",
                                                written)) == "t";
      },
      60s));
  run.signal(SIGTERM);
  CHECK(run.wait().exit_code == 0);
}

TEST_CASE("stream faults: one huge source transaction is applied in bounded memory") {
  // Scaled down for CI (bench/stream runs the 2-million-row version).
  const int rows = std::getenv("CRMSYNC_BIG_TXN_ROWS") != nullptr ? std::atoi(std::getenv("CRMSYNC_BIG_TXN_ROWS"))
                                                                   : 200000;
  PipelineFixture p("bigtxn");
  const char* ddl = "CREATE TABLE public.big (id int PRIMARY KEY, n int NOT NULL, pad text)";
  p.source.exec(ddl);
  p.target.exec(ddl);
  p.source.exec(fmt::format("INSERT INTO public.big SELECT g, 0, repeat('p', 100) FROM generate_series(1, {}) g", rows));
  p.write_config({"public.big"});
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  REQUIRE(wait_until([&] { return row_count(p.target, "public.big") == rows; }, 120s));
  p.source.exec("UPDATE public.big SET n = n + 1");  // one transaction touching every row
  CHECK(wait_until(
      [&] { return p.target.query_value("SELECT count(*) FROM public.big WHERE n = 1") == std::to_string(rows); },
      300s));
  run.signal(SIGTERM);
  const auto r = run.wait();
  REQUIRE(r.exit_code == 0);
  const auto at = r.err.find("peak memory ");
  REQUIRE(at != std::string::npos);
  const long peak_mb = std::stol(r.err.substr(at + 12));
  MESSAGE("peak RSS applying a ", rows, "-row transaction: ", peak_mb, " MB");
#if defined(__SANITIZE_ADDRESS__)
  CHECK(peak_mb < 768);  // AddressSanitizer's shadow memory and quarantine triple the footprint
#else
  CHECK(peak_mb < 256);
#endif
}
