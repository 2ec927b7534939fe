// The copy on a live legacy CRM into a real new-CRM schema (issue #9): the source never stops
// writing and takes ACCESS EXCLUSIVE locks during the copy; the target has foreign keys and
// triggers; the source's DateStyle and encoding are not the target's.

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <optional>
#include <random>
#include <thread>

#include "support/pipeline.hpp"
#include "support/wait.hpp"

using namespace crmsync::testing;
using namespace std::chrono_literals;

namespace {

constexpr int kTables = 12;

std::string tname(int i) {
  return fmt::format("public.t{:02}", i);
}

std::string table_ddl(int i) {
  return fmt::format("CREATE TABLE {} (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0, body text);", tname(i));
}

bool all_equal(const PipelineFixture& p) {
  for (int i = 0; i < kTables; ++i) {
    if (table_checksum(p.target, tname(i), "id") != table_checksum(p.source, tname(i), "id")) return false;
  }
  return true;
}

// Runs `sql` over and over on its own connection until stopped, timing each run. lock_timeout
// turns a hang into a counted failure instead of a stuck test.
class Repeater {
 public:
  Repeater(const PgCluster& c, std::string sql, std::chrono::milliseconds pause)
      : cluster_(c), sql_(std::move(sql)), pause_(pause) {
    thread_ = std::thread([this] { loop(); });
  }
  ~Repeater() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int runs() const { return runs_; }
  int failures() const { return failures_; }
  std::chrono::milliseconds longest() const { return std::chrono::milliseconds(longest_ms_.load()); }
  std::string last_error() const {
    std::lock_guard lock(mutex_);
    return last_error_;
  }

 private:
  void loop() {
    auto conn = cluster_.connect();
    (void)conn.exec("SET lock_timeout = '20s'");
    while (!stop_) {
      const auto t0 = std::chrono::steady_clock::now();
      auto r = conn.exec(sql_);
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
      if (r) {
        ++runs_;
      } else {
        ++failures_;
        std::lock_guard lock(mutex_);
        last_error_ = r.error().message;
      }
      longest_ms_ = std::max<long>(longest_ms_.load(), ms.count());
      std::this_thread::sleep_for(pause_);
    }
  }
  const PgCluster& cluster_;
  std::string sql_;
  std::chrono::milliseconds pause_;
  std::atomic<bool> stop_{false};
  std::atomic<int> runs_{0};
  std::atomic<int> failures_{0};
  std::atomic<long> longest_ms_{0};
  mutable std::mutex mutex_;
  std::string last_error_;
  std::thread thread_;
};

}  // namespace

TEST_CASE(
    "live copy: TRUNCATE, VACUUM FULL and LOCK TABLE during the copy neither hang it nor stall the source, "
    "and every table ends equal") {
  PipelineFixture p("live-locks");
  std::vector<std::string> tables;
  for (int i = 0; i < kTables; ++i) {
    p.source.exec(table_ddl(i));
    p.target.exec(table_ddl(i));
    p.source.exec(fmt::format(
        "INSERT INTO {} SELECT g, g % 7, repeat(md5(g::text), 3) FROM generate_series(1, 20000) g; ANALYZE {}",
        tname(i), tname(i)));
    tables.push_back(tname(i));
  }
  p.write_config(tables, "snapshot:\n  chunk_rows: 2000\n  parallel: 2\napply:\n  max_batch_delay_ms: 10\n");

  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  // Once the first chunk is committed the plan is made and the copy under way.
  REQUIRE(wait_until(
      [&] {
        return p.target.query_value("SELECT to_regclass('crmsync.copy_progress') IS NOT NULL") == "t" &&
               p.target.query_value("SELECT count(*) > 0 FROM crmsync.copy_progress") == "t";
      },
      60s));
  // The legacy application: a nightly job truncating and refilling a staging table, a VACUUM
  // FULL, ordinary writes, and an operator holding an exclusive lock on the last table for 6 s.
  Repeater truncate(p.source,
                    fmt::format("BEGIN; TRUNCATE {0}; INSERT INTO {0} SELECT g, 1, 'refill' FROM "
                                "generate_series(1, 3000) g; COMMIT",
                                tname(5)),
                    200ms);
  Repeater vacuum(p.source, fmt::format("VACUUM FULL {}", tname(7)), 700ms);
  Repeater writes(p.source,
                  fmt::format("UPDATE {0} SET n = n + 1 WHERE id % 97 = 0; INSERT INTO {0} (id, body) SELECT "
                              "max(id) + 1, 'new' FROM {0}",
                              tname(2)),
                  20ms);
  auto locker = p.source.connect();
  REQUIRE(locker.exec(fmt::format("BEGIN; LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", tname(kTables - 1))).ok());
  const int locker_pid = locker.backend_pid();
  // Hold the lock until a copy worker has reached the table and waited past the report threshold.
  // Only a wait behind this lock counts: a worker waiting a moment behind the TRUNCATE job's lock
  // on another table is no sign that one has reached this one (a slow ASan build got there late).
  CHECK(wait_until(
      [&] {
        return p.source.query_value(
                   fmt::format("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'crmsync%' "
                               "AND wait_event_type = 'Lock' AND {} = ANY (pg_blocking_pids(pid))",
                               locker_pid)) != "0";
      },
      120s));
  std::this_thread::sleep_for(5s);
  REQUIRE(locker.exec("COMMIT").ok());

  // The copy finishes (every chunk committed, phase streaming) while the jobs go on.
  CHECK(wait_until(
      [&] {
        return p.target.query_value("SELECT count(DISTINCT source_table) FROM crmsync.copy_progress") ==
                   std::to_string(kTables) &&
               p.target.query_value("SELECT count(*) FROM crmsync.apply_progress") == "1";
      },
      120s));
  std::this_thread::sleep_for(1s);
  truncate.stop();
  vacuum.stop();
  writes.stop();
  CAPTURE(truncate.last_error());
  CAPTURE(vacuum.last_error());
  // The legacy jobs never waited for the whole copy: at most about a chunk (and not for the
  // operator's lock on another table, which a copy worker sat behind for several seconds).
  CHECK(truncate.runs() > 3);
  CHECK(truncate.failures() == 0);
  CHECK(vacuum.failures() == 0);
  CHECK(truncate.longest() < 5s);
  CHECK(vacuum.longest() < 5s);
  CHECK(wait_until([&] { return all_equal(p); }, 90s));
  run.signal(SIGTERM);
  const auto r = run.wait();
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
  // The wait on the locked table was reported, naming the blocker.
  CHECK(r.err.find(fmt::format("copy: {} is waiting", tname(kTables - 1))) != std::string::npos);
  CHECK(r.err.find(fmt::format("blocked by pid {}", locker_pid)) != std::string::npos);
  CHECK(r.err.find("LOCK TABLE") != std::string::npos);
}

TEST_CASE("live copy: a target with foreign keys and triggers, children copied before parents, kill -9 mid-copy") {
  PipelineFixture p("live-fk");
  const char* source_ddl = R"sql(
CREATE TABLE public.accounts (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.contacts (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES public.accounts, email text);
)sql";
  p.source.exec(source_ddl);
  // The new CRM: the same foreign key, an ordinary trigger that would refuse every write it sees
  // (as a validation trigger of the new CRM's own might), and an ENABLE ALWAYS trigger that must
  // fire for replicated rows too.
  p.target.exec(std::string(source_ddl) + R"sql(
CREATE TABLE public.audit (contact_id bigint);
CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'app trigger fired'; END$$;
CREATE TRIGGER refuse BEFORE INSERT OR UPDATE OR DELETE ON public.contacts FOR EACH ROW EXECUTE FUNCTION public.refuse();
CREATE FUNCTION public.audit() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO public.audit VALUES (NEW.id); RETURN NEW; END$$;
CREATE TRIGGER audit AFTER INSERT ON public.contacts FOR EACH ROW EXECUTE FUNCTION public.audit();
ALTER TABLE public.contacts ENABLE ALWAYS TRIGGER audit;
)sql");
  p.source.exec(
      "INSERT INTO public.accounts SELECT g, 'acct ' || g FROM generate_series(1, 30000) g;"
      "INSERT INTO public.contacts SELECT g, 1 + g % 30000, 'c' || g || '@x' FROM generate_series(1, 60000) g; "
      "ANALYZE");
  // Children first, one worker: every contacts chunk commits before its accounts exist.
  p.write_config({"public.contacts", "public.accounts"},
                 "snapshot:\n  chunk_rows: 2000\n  parallel: 1\napply:\n  max_batch_delay_ms: 10\n");

  // New accounts with contacts, written throughout: a resumed copy reads them at a newer snapshot.
  auto conn = p.source.connect();
  LoopThread writer([&](int i) {
    (void)conn.exec(
        fmt::format("BEGIN; INSERT INTO public.accounts VALUES ({0}, 'new'); INSERT INTO "
                    "public.contacts VALUES ({0}, {0}, 'n@x'); COMMIT",
                    100000 + i));
    std::this_thread::sleep_for(5ms);
  });

  auto committed = [&] {
    return p.target.query_value("SELECT to_regclass('crmsync.copy_progress') IS NOT NULL") == "t"
               ? std::stoi(p.target.query_value("SELECT count(*) FROM crmsync.copy_progress"))
               : 0;
  };
  int kills = 0;
  for (int round = 0; round < 3; ++round) {
    const int before = committed();
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    wait_until([&] { return !run.running() || committed() > before + 2; }, 60s);
    if (!run.running()) {
      const auto r = run.wait();
      FAIL_CHECK(r.err);
      return;
    }
    run.signal(SIGKILL);
    run.wait();
    ++kills;
  }
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  std::this_thread::sleep_for(2s);
  writer.stop();
  const bool equal = wait_until(
      [&] {
        return table_checksum(p.target, "public.accounts", "id") == table_checksum(p.source, "public.accounts", "id") &&
               table_checksum(p.target, "public.contacts", "id") == table_checksum(p.source, "public.contacts", "id");
      },
      120s);
  run.signal(SIGTERM);
  const auto r = run.wait();
  CAPTURE(r.err);
  CHECK(equal);
  CHECK(kills == 3);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("23503") == std::string::npos);
  CHECK(r.err.find("app trigger fired") == std::string::npos);
  // ENABLE ALWAYS fired for every streamed insert (copied rows come by COPY, which fires row
  // triggers too: every contact on the target has its audit row at least once).
  CHECK(p.target.query_value("SELECT count(*) FROM public.contacts c WHERE NOT EXISTS (SELECT 1 FROM public.audit a "
                             "WHERE a.contact_id = c.id)") == "0");
}

TEST_CASE("live copy: the replication role needs a privilege: check says which GRANT and run refuses cleanly") {
  PipelineFixture p("live-role");
  const char* ddl = "CREATE TABLE public.accounts (id bigint PRIMARY KEY, name text)";
  p.source.exec(ddl);
  p.target.exec(ddl);
  p.target.exec(
      "CREATE ROLE crm_writer LOGIN; GRANT CREATE ON DATABASE postgres TO crm_writer;"
      "GRANT INSERT, UPDATE, DELETE, SELECT, TRUNCATE ON public.accounts TO crm_writer");
  p.source.exec("INSERT INTO public.accounts VALUES (1, 'a')");
  const auto target_dsn = fmt::format("host=127.0.0.1 port={} user=crm_writer dbname=postgres", p.target.port());
  p.write_config_with(p.source.dsn(), target_dsn, {"public.accounts"});
  const auto check = p.crmsync({"check"});
  CAPTURE(check.out);
  CHECK(check.exit_code == 1);
  CHECK(check.out.find("replication role") != std::string::npos);
  CHECK(check.out.find("GRANT SET ON PARAMETER session_replication_role TO \"crm_writer\"") != std::string::npos);
  const auto run = p.crmsync({"run", "--stop-after-copy"});
  CAPTURE(run.err);
  CHECK(run.exit_code != 0);
  CHECK(run.err.find("GRANT SET ON PARAMETER session_replication_role") != std::string::npos);

  p.target.exec("GRANT SET ON PARAMETER session_replication_role TO crm_writer");
  const auto again = p.crmsync({"check"});
  CAPTURE(again.out);
  CHECK(again.out.find("session_replication_role = replica allowed") != std::string::npos);
  const auto copied = p.crmsync({"run", "--stop-after-copy"});
  CAPTURE(copied.err);
  CHECK(copied.exit_code == 0);
  CHECK(row_count(p.target, "public.accounts") == 1);
}

TEST_CASE("live copy: permanent errors exit 65, which the unit does not restart, after saying where and what") {
  SUBCASE("a constraint the target has and the source does not") {
    PipelineFixture p("perm-check");
    p.source.exec("CREATE TABLE public.deals (id bigint PRIMARY KEY, amount int NOT NULL)");
    p.target.exec("CREATE TABLE public.deals (id bigint PRIMARY KEY, amount int NOT NULL CHECK (amount < 1000))");
    p.source.exec("INSERT INTO public.deals VALUES (1, 10)");
    p.write_config({"public.deals"}, "apply:\n  max_batch_delay_ms: 10\n");
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    REQUIRE(wait_until([&] { return row_count(p.target, "public.deals") == 1; }, 60s));
    p.source.exec("UPDATE public.deals SET amount = 5000 WHERE id = 1");
    REQUIRE(wait_until([&] { return !run.running(); }, 60s));
    const auto r = run.wait();
    CAPTURE(r.err);
    CHECK(r.exit_code == 65);
    CHECK(r.err.find("23514") != std::string::npos);
    CHECK(r.err.find("apply stopped in source transaction") != std::string::npos);
    CHECK(r.err.find("table public.deals") != std::string::npos);
  }
  SUBCASE("a statement_timeout that strikes the same batch again and again") {
    PipelineFixture p("perm-timeout");
    p.source.exec("CREATE TABLE public.deals (id bigint PRIMARY KEY, amount int NOT NULL)");
    p.target.exec(R"sql(
CREATE TABLE public.deals (id bigint PRIMARY KEY, amount int NOT NULL);
CREATE FUNCTION public.slow() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN IF NEW.amount = 7 THEN PERFORM pg_sleep(2); END IF; RETURN NEW; END$$;
CREATE TRIGGER slow BEFORE INSERT ON public.deals FOR EACH ROW EXECUTE FUNCTION public.slow();
ALTER TABLE public.deals ENABLE ALWAYS TRIGGER slow;
ALTER DATABASE postgres SET statement_timeout = '500ms';
)sql");
    p.source.exec("INSERT INTO public.deals VALUES (1, 10)");
    p.write_config({"public.deals"}, "apply:\n  max_batch_delay_ms: 10\n");
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    REQUIRE(wait_until([&] { return row_count(p.target, "public.deals") == 1; }, 60s));
    p.source.exec("INSERT INTO public.deals VALUES (2, 7)");
    REQUIRE(wait_until([&] { return !run.running(); }, 90s));
    const auto r = run.wait();
    CAPTURE(r.err);
    CHECK(r.exit_code == 65);
    CHECK(r.err.find("57014") != std::string::npos);
    CHECK(r.err.find("the same error struck 5 times in a row") != std::string::npos);
  }
}

TEST_CASE("live copy: error lines name the table, constraint and SQLSTATE, never the row's values") {
  PipelineFixture p("no-values");
  p.source.exec("CREATE TABLE public.people (id bigint PRIMARY KEY, email text, born date)");
  // The new CRM refuses duplicate emails, which the legacy system allowed.
  p.target.exec("CREATE TABLE public.people (id bigint PRIMARY KEY, email text UNIQUE, born date)");
  p.source.exec(
      "INSERT INTO public.people VALUES (1, 'jane.doe@example.com', '1980-01-02'), "
      "(2, 'jane.doe@example.com', '1981-02-03')");
  p.write_config_with(p.source.dsn(), p.target.dsn(), {"public.people"}, "log:\n  level: info\n");
  const auto r = p.crmsync({"run", "--stop-after-copy"});
  CAPTURE(r.err);
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("23505") != std::string::npos);
  CHECK(r.err.find("people_email_key") != std::string::npos);
  CHECK(r.err.find("jane.doe") == std::string::npos);
  CHECK(r.err.find("1980") == std::string::npos);
}

TEST_CASE("live copy: identity keys, a partitioned target of a FULL-identity table and generated columns") {
  PipelineFixture p("target-features");
  p.source.exec(R"sql(
CREATE TABLE public.contacts (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.log (n int NOT NULL, body text);
ALTER TABLE public.log REPLICA IDENTITY FULL;
CREATE TABLE public.scores (id int PRIMARY KEY, a int NOT NULL, doubled int GENERATED ALWAYS AS (a * 2) STORED);
INSERT INTO public.contacts SELECT g, 'c' || g FROM generate_series(1, 50) g;
INSERT INTO public.log VALUES (1, 'first'), (11, 'first'), (2, 'x'), (12, 'x');
INSERT INTO public.scores (id, a) SELECT g, g FROM generate_series(1, 20) g;
)sql");
  // The new CRM: its own identity key, the log partitioned, scores created by crmsync.
  p.target.exec(R"sql(
CREATE TABLE public.contacts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.log (n int NOT NULL, body text) PARTITION BY RANGE (n);
CREATE TABLE public.log_low PARTITION OF public.log FOR VALUES FROM (0) TO (10);
CREATE TABLE public.log_high PARTITION OF public.log FOR VALUES FROM (10) TO (100);
)sql");
  // (extra follows target.dsn, so an indented key lands in the target section)
  p.write_config_with(p.source.dsn(), p.target.dsn(), {"public.contacts", "public.log", "public.scores"},
                      "  create_tables: true\napply:\n  max_batch_delay_ms: 10\n");
  const auto check = p.crmsync({"check"});
  CAPTURE(check.out);
  CHECK(check.exit_code == 0);
  CHECK(check.out.find("identity column id (GENERATED ALWAYS) is written with OVERRIDING SYSTEM VALUE") !=
        std::string::npos);
  CHECK(check.out.find("partitioned: rows are routed to its partitions") != std::string::npos);

  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  auto equal = [&] {
    return table_checksum(p.target, "public.contacts", "id") == table_checksum(p.source, "public.contacts", "id") &&
           table_checksum(p.target, "public.log", "n, body") == table_checksum(p.source, "public.log", "n, body") &&
           table_checksum(p.target, "public.scores", "id") == table_checksum(p.source, "public.scores", "id");
  };
  if (!wait_until(
          [&] {
            return p.target.query_value("SELECT to_regclass('public.scores') IS NOT NULL") == "t" &&
                   row_count(p.target, "public.scores") == 20;
          },
          60s)) {
    run.signal(SIGTERM);
    FAIL_CHECK(run.wait().err);
    return;
  }
  CHECK(equal());
  // The generated column was created generated: computed on the target, not left NULL.
  CHECK(p.target.query_value("SELECT attgenerated FROM pg_attribute WHERE attrelid = 'public.scores'::regclass AND "
                             "attname = 'doubled'") == "s");
  p.source.exec(R"sql(
INSERT INTO public.contacts VALUES (100, 'streamed');
UPDATE public.contacts SET name = 'renamed' WHERE id = 7;
UPDATE public.log SET body = 'changed' WHERE n = 1;
DELETE FROM public.log WHERE n = 2;
INSERT INTO public.scores (id, a) VALUES (21, 21);
UPDATE public.scores SET a = 100 WHERE id = 1;
)sql");
  CHECK(wait_until([&] { return row_count(p.target, "public.contacts") == 51 && equal(); }, 30s));
  // Only the one row changed, in the one partition: the other partition's row at the same ctid
  // is untouched.
  CHECK(p.target.query_value("SELECT body FROM public.log WHERE n = 11") == "first");
  CHECK(p.target.query_value("SELECT count(*) FROM public.log WHERE n = 12") == "1");
  run.signal(SIGTERM);
  const auto r = run.wait();
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("428C9") == std::string::npos);
}

TEST_CASE("live copy: run passes the preflight before it changes anything on the source") {
  SUBCASE("a table without a usable replica identity") {
    PipelineFixture p("preflight-identity");
    const char* ddl =
        "CREATE TABLE public.accounts (id bigint PRIMARY KEY, name text);"
        "CREATE TABLE public.activity_log (at timestamptz, what text);";
    p.source.exec(ddl);
    p.target.exec(ddl);
    p.source.exec("INSERT INTO public.activity_log VALUES (now(), 'login')");
    p.write_config({"public.accounts", "public.activity_log"});
    const auto r = p.crmsync({"run"});
    CAPTURE(r.err);
    CHECK(r.exit_code == 65);
    CHECK(r.err.find("preflight: source table public.activity_log") != std::string::npos);
    CHECK(r.err.find("nothing was changed on the source") != std::string::npos);
    CHECK(p.source.query_value("SELECT count(*) FROM pg_publication") == "0");
    CHECK(p.source.query_value("SELECT count(*) FROM pg_replication_slots") == "0");
    // The legacy application's own writes still work.
    p.source.exec("UPDATE public.activity_log SET what = 'logout'; DELETE FROM public.activity_log");
  }
  SUBCASE("a role that may not create the publication") {
    PipelineFixture p("preflight-owner");
    const char* ddl = "CREATE TABLE public.accounts (id bigint PRIMARY KEY, name text)";
    p.source.exec(ddl);
    p.target.exec(ddl);
    p.source.exec("CREATE ROLE crm_reader LOGIN REPLICATION; GRANT SELECT ON public.accounts TO crm_reader");
    p.write_config_with(fmt::format("host=127.0.0.1 port={} user=crm_reader dbname=postgres", p.source.port()),
                        p.target.dsn(), {"public.accounts"});
    const auto check = p.crmsync({"check"});
    CAPTURE(check.out);
    CHECK(check.exit_code == 1);
    CHECK(check.out.find("crmsync cannot create publication \"crmsync_it_pipeline\"") != std::string::npos);
    CHECK(check.out.find("CREATE PUBLICATION \"crmsync_it_pipeline\" FOR TABLE \"public\".\"accounts\"") !=
          std::string::npos);
    const auto r = p.crmsync({"run"});
    CAPTURE(r.err);
    CHECK(r.exit_code == 65);
    CHECK(p.source.query_value("SELECT count(*) FROM pg_replication_slots") == "0");
    // Once the owner has created it, check and run go ahead.
    p.source.exec(
        "CREATE PUBLICATION crmsync_it_pipeline FOR TABLE public.accounts WITH (publish_via_partition_root = "
        "true)");
    const auto again = p.crmsync({"check"});
    CAPTURE(again.out);
    CHECK(again.out.find("exists and has every table") != std::string::npos);
    CHECK(p.crmsync({"run", "--stop-after-copy"}).exit_code == 0);
  }
  SUBCASE("a NOT NULL target column that nothing fills") {
    PipelineFixture p("preflight-notnull");
    p.source.exec("CREATE TABLE public.accounts (id bigint PRIMARY KEY, name text)");
    p.target.exec("CREATE TABLE public.accounts (id bigint PRIMARY KEY, name text, region text NOT NULL)");
    p.write_config({"public.accounts"});
    const auto check = p.crmsync({"check"});
    CAPTURE(check.out);
    CHECK(check.exit_code == 1);
    CHECK(check.out.find("NOT NULL column(s) without a default that the mapping leaves empty: region") !=
          std::string::npos);
  }
}

TEST_CASE("live copy: after losing the state directory, following the refusal's advice once leads to a working run") {
  PipelineFixture p("lost-state");
  const char* ddl = "CREATE TABLE public.accounts (id bigint PRIMARY KEY, name text)";
  p.source.exec(ddl);
  p.target.exec(ddl);
  p.source.exec("INSERT INTO public.accounts SELECT g, 'a' || g FROM generate_series(1, 500) g");
  p.write_config({"public.accounts"}, "apply:\n  max_batch_delay_ms: 10\n");
  {
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    REQUIRE(wait_until([&] { return row_count(p.target, "public.accounts") == 500; }, 60s));
    p.source.exec("UPDATE public.accounts SET name = 'changed' WHERE id <= 10");
    REQUIRE(wait_until(
        [&] {
          return table_checksum(p.target, "public.accounts", "id") == table_checksum(p.source, "public.accounts", "id");
        },
        30s));
    run.signal(SIGTERM);
    REQUIRE(run.wait().exit_code == 0);
  }
  REQUIRE(run_process({"/bin/rm", "-rf", p.state_dir()}).exit_code == 0);
  p.source.exec("UPDATE public.accounts SET name = 'while stopped' WHERE id = 1");

  const auto refused = p.crmsync({"run", "--stop-after-copy"});
  CAPTURE(refused.err);
  CHECK(refused.exit_code == 65);
  const std::vector<std::string> steps{
      "SELECT pg_drop_replication_slot('crmsync_it_pipeline')",
      "DELETE FROM crmsync.copy_progress WHERE pipeline = 'it_pipeline'",
      "DELETE FROM crmsync.apply_progress WHERE pipeline = 'it_pipeline'",
      "set snapshot.truncate_target: true",
  };
  for (const auto& step : steps) CHECK(refused.err.find(step) != std::string::npos);
  CHECK(row_count(p.target, "public.accounts") == 500);  // the refusal touched nothing

  // Follow the advice, once, literally.
  p.source.exec(steps[0]);
  p.target.exec(steps[1] + "; " + steps[2]);
  REQUIRE(run_process({"/bin/rm", "-rf", p.state_dir()}).exit_code == 0);
  p.write_config({"public.accounts"}, "apply:\n  max_batch_delay_ms: 10\nsnapshot:\n  truncate_target: true\n");
  const auto again = p.crmsync({"run", "--stop-after-copy"});
  CAPTURE(again.err);
  CHECK(again.exit_code == 0);
  CHECK(table_checksum(p.target, "public.accounts", "id") == table_checksum(p.source, "public.accounts", "id"));
  // And it streams on from there.
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  p.source.exec("INSERT INTO public.accounts VALUES (501, 'after')");
  CHECK(wait_until(
      [&] {
        return table_checksum(p.target, "public.accounts", "id") == table_checksum(p.source, "public.accounts", "id");
      },
      30s));
  run.signal(SIGTERM);
  CHECK(run.wait().exit_code == 0);
}

TEST_CASE("live copy: a server that is down at start is waited for inside the process, with growing pauses") {
  PipelineFixture p("retry-start");
  const char* ddl = "CREATE TABLE public.accounts (id bigint PRIMARY KEY, name text)";
  p.source.exec(ddl);
  p.target.exec(ddl);
  p.source.exec("INSERT INTO public.accounts SELECT g, 'a' FROM generate_series(1, 100) g");
  p.write_config({"public.accounts"});
  REQUIRE(run_process({script_path("pg-cluster"), "stop-server", p.target.name(), std::to_string(p.target.port())})
              .exit_code == 0);
  BackgroundProcess run({crmsync_binary(), "run", "--stop-after-copy", "-c", p.config_path()});
  std::this_thread::sleep_for(4s);
  CHECK(run.running());  // not exited 1 for systemd to restart: retrying itself
  REQUIRE(run_process({script_path("pg-cluster"), "start-server", p.target.name(), std::to_string(p.target.port())})
              .exit_code == 0);
  REQUIRE(wait_until([&] { return !run.running(); }, 60s));
  const auto r = run.wait();
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("trying again in 1 s") != std::string::npos);
  CHECK(r.err.find("trying again in 2 s") != std::string::npos);
  CHECK(row_count(p.target, "public.accounts") == 100);
}

TEST_CASE("live copy: a source table renamed while streaming stops the stream with what to change, never drops") {
  PipelineFixture p("renamed");
  const char* ddl = "CREATE TABLE public.contacts (id bigint PRIMARY KEY, name text)";
  p.source.exec(ddl);
  p.target.exec(ddl);
  p.source.exec("INSERT INTO public.contacts SELECT g, 'c' FROM generate_series(1, 10) g");
  p.write_config({"public.contacts"}, "apply:\n  max_batch_delay_ms: 10\n");
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 10; }, 60s));
  p.source.exec("ALTER TABLE public.contacts RENAME TO people; INSERT INTO public.people VALUES (11, 'after')");
  REQUIRE(wait_until([&] { return !run.running(); }, 60s));
  const auto r = run.wait();
  CAPTURE(r.err);
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("source table public.contacts (relation") != std::string::npos);
  CHECK(r.err.find("was renamed to public.people") != std::string::npos);
  CHECK(r.err.find("replace public.contacts with public.people in source.tables") != std::string::npos);
  // Nothing was confirmed past the change: the slot still holds it for the restart.
  CHECK(p.source.query_value("SELECT count(*) FROM pg_logical_slot_peek_binary_changes('crmsync_it_pipeline', NULL, "
                             "NULL, 'proto_version', '1', 'publication_names', 'crmsync_it_pipeline')") != "0");
}
