// Values keep their meaning and commits their durability between a legacy source and the new CRM
// (issue #9): a 'SQL, DMY' LATIN1 source, a target with synchronous_commit = off that crashes, and
// passwords that need quoting.

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>

#include "support/pipeline.hpp"
#include "support/wait.hpp"

using namespace crmsync::testing;
using namespace std::chrono_literals;

namespace {

// Rows as text, read with the same unambiguous settings and UTF8 on both sides, so that a
// LATIN1 source and a UTF8 target compare value by value.
std::vector<std::string> rows_as_text(const PgCluster& c, const std::string& db, const std::string& table) {
  crmsync::pq::ConnectOptions o;
  o.dsn = c.dsn(db);
  o.settings = {{"datestyle", "ISO"},
                {"intervalstyle", "postgres"},
                {"extra_float_digits", "3"},
                {"client_encoding", "UTF8"},
                {"timezone", "UTC"}};
  auto conn = crmsync::pq::Connection::connect(o);
  REQUIRE(conn.ok());
  auto res = conn->exec(fmt::format("SELECT t::text FROM {} t ORDER BY id", table));
  REQUIRE(res.ok());
  std::vector<std::string> out;
  for (int r = 0; r < res->rows(); ++r) out.emplace_back(res->get(r, 0));
  return out;
}

}  // namespace

TEST_CASE(
    "live values: a 'SQL, DMY' LATIN1 source keeps dates, times, intervals, floats and text exact in copy and "
    "stream") {
  PipelineFixture p("live-dmy");
  p.source.exec("CREATE DATABASE legacy ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
  p.source.exec(
      "ALTER DATABASE legacy SET datestyle = 'SQL, DMY'; ALTER DATABASE legacy SET intervalstyle = 'sql_standard';"
      "ALTER DATABASE legacy SET extra_float_digits = 0; ALTER DATABASE legacy SET timezone = 'Europe/Berlin'");
  // The target reads dates month first and prints intervals its own way.
  p.target.exec(
      "ALTER DATABASE postgres SET datestyle = 'SQL, MDY'; ALTER DATABASE postgres SET intervalstyle = 'iso_8601'");
  const char* same =
      "CREATE TABLE public.events (id int PRIMARY KEY, d date, ts timestamptz, t timestamp, "
      "iv interval, f4 real, f8 double precision, name text)";
  p.source.exec(same, "legacy");
  p.target.exec(same);
  // A second table with a type of its own (an enum): copied with text COPY, not binary.
  const char* people =
      "CREATE TYPE public.mood AS ENUM ('calm', 'busy', 'très occupé');"
      "CREATE TABLE public.people (id int PRIMARY KEY, born date, seen timestamptz, name text, "
      "score double precision, mood public.mood)";
  p.source.exec(people, "legacy");
  p.target.exec(people);
  // Written with ISO input, which every DateStyle reads the same way.
  const char* rows = R"sql(
INSERT INTO public.events VALUES
  (1, '2024-01-14', '2024-01-14 09:30:00+00', '2024-01-14 09:30:00', '1 year 2 mons 3 days 04:05:06.5', 0.1, 0.30000000000000004, 'Müller'),
  (2, '2024-03-05', '2024-03-05 23:59:59.123456+00', '2024-03-05 00:00:01', '-1 days +02:00:00', 1e-38, 1e-310, 'Ærø façade'),
  (3, '1999-12-31', '1999-12-31 23:00:00+00', '1999-12-31 12:00:00', '00:00:00.000001', -0, -0, 'naïve');
INSERT INTO public.people VALUES (1, '2001-02-03', '2001-02-03 04:05:06+00', 'Zoë', 0.1, 'très occupé'),
  (2, '2001-11-12', '2001-11-12 13:14:15+00', 'Ångström', 2.5e-7, 'calm');
)sql";
  p.source.exec(rows, "legacy");
  const auto legacy_dsn = p.source.dsn("legacy");
  p.write_config_with(legacy_dsn, p.target.dsn(), {"public.events", "public.people"},
                      "apply:\n  max_batch_delay_ms: 10\n");
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  auto equal = [&] {
    return rows_as_text(p.target, "postgres", "public.events") == rows_as_text(p.source, "legacy", "public.events") &&
           rows_as_text(p.target, "postgres", "public.people") == rows_as_text(p.source, "legacy", "public.people");
  };
  if (!wait_until([&] { return row_count(p.target, "public.people") == 2; }, 60s)) {
    run.signal(SIGTERM);
    const auto r = run.wait();
    FAIL_CHECK(r.err);
    return;
  }
  CHECK(equal());
  CHECK(p.target.query_value("SELECT to_char(d, 'YYYY-MM-DD') FROM public.events WHERE id = 2") == "2024-03-05");

  // Streamed: an update of one column sends the others along unchanged, in the source's text.
  p.source.exec(R"sql(
UPDATE public.events SET d = '2024-03-05' WHERE id = 1;
UPDATE public.events SET name = name || ' ¡ß' WHERE id = 2;
INSERT INTO public.events VALUES (4, '2024-12-01', '2024-12-01 01:02:03+00', '2024-12-01 01:02:03', '7 days', 3.4028235e38, 2.2250738585072014e-308, 'Æuvre ¿ ÿ');
UPDATE public.people SET born = '2001-04-05', score = score * 3 WHERE id = 1;
INSERT INTO public.people VALUES (3, '2024-01-13', '2024-01-13 00:00:00+00', 'Søren', 1e-5, 'busy');
)sql",
                "legacy");
  CHECK(wait_until([&] { return row_count(p.target, "public.events") == 4 && equal(); }, 30s));
  CHECK(p.target.query_value("SELECT to_char(d, 'YYYY-MM-DD') FROM public.events WHERE id = 1") == "2024-03-05");
  CHECK(p.target.query_value("SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM public.events WHERE "
                             "id = 1") == "2024-01-14 09:30");
  CHECK(p.target.query_value("SELECT name FROM public.events WHERE id = 4") == "Æuvre ¿ ÿ");
  run.signal(SIGTERM);
  const auto r = run.wait();
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
}

TEST_CASE("live values: a target with synchronous_commit = off that crashes loses no commit") {
  PipelineFixture p("live-async");
  // A target whose WAL writer writes at most every 10 s: with crmsync's commits asynchronous too,
  // an immediate stop would lose the last seconds of them after the source had been told.
  PgCluster target("live-async-tgt",
                   {"synchronous_commit=off", "wal_writer_delay=10000ms", "wal_writer_flush_after=0"});
  const char* ddl = "CREATE TABLE public.orders (id bigint PRIMARY KEY, note text)";
  p.source.exec(ddl);
  target.exec(ddl);
  p.source.exec("INSERT INTO public.orders SELECT g, 'seed' FROM generate_series(1, 100) g");
  p.write_config_with(p.source.dsn(), target.dsn(), {"public.orders"}, "apply:\n  max_batch_delay_ms: 5\n");
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  REQUIRE(wait_until([&] { return row_count(target, "public.orders") == 100; }, 60s));
  auto conn = p.source.connect();
  LoopThread writer([&](int i) {
    (void)conn.exec(fmt::format("INSERT INTO public.orders VALUES ({}, 'live')", 1000 + i));
    std::this_thread::sleep_for(2ms);
  });
  std::this_thread::sleep_for(3s);
  // Let the slot's confirmed position move past recent commits, then crash the target.
  REQUIRE(run_process({script_path("pg-cluster"), "stop-server", target.name(), std::to_string(target.port()), "-m",
                       "immediate"})
              .exit_code == 0);
  std::this_thread::sleep_for(2s);
  REQUIRE(run_process({script_path("pg-cluster"), "start-server", target.name(), std::to_string(target.port())})
              .exit_code == 0);
  std::this_thread::sleep_for(2s);
  writer.stop();
  CHECK(wait_until(
      [&] { return table_checksum(target, "public.orders", "id") == table_checksum(p.source, "public.orders", "id"); },
      60s));
  CAPTURE(row_count(target, "public.orders"));
  CAPTURE(row_count(p.source, "public.orders"));
  run.signal(SIGTERM);
  const auto r = run.wait();
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
}

TEST_CASE("live values: passwords with spaces, quotes, backslashes and '=' reach the server intact and never a log") {
  TempDir hba_dir;
  // Password authentication for crm_pw over TCP; trust for the test's own superuser.
  const auto hba = hba_dir.write("pg_hba.conf",
                                 "local all all trust\n"
                                 "host all postgres 127.0.0.1/32 trust\n"
                                 "host all all 127.0.0.1/32 scram-sha-256\n");
  chmod(hba_dir.path().c_str(), 0755);
  chmod(hba.c_str(), 0644);
  PipelineFixture p("live-pw");
  PgCluster target("live-pw-tgt", {"hba_file=" + hba});
  const char* ddl = "CREATE TABLE public.accounts (id bigint PRIMARY KEY, name text)";
  p.source.exec(ddl);
  target.exec(ddl);
  const std::string password = "s3cr et' pa\\ss=word host=nowhere.invalid";
  target.exec(fmt::format("SET password_encryption = 'scram-sha-256'; CREATE ROLE crm_pw LOGIN SUPERUSER PASSWORD {}",
                          crmsync::pq::quote_literal(password)));
  auto write_config = [&](const std::string& target_dsn) {
    p.write_config_with(p.source.dsn(), target_dsn, {"public.accounts"});
  };
  const auto argv = std::vector<std::string>{crmsync_binary(), "check", "-c", p.config_path()};
  for (const auto* form : {"host=127.0.0.1 port={} user=crm_pw dbname=postgres password=${{PW}}",
                           "host=127.0.0.1 port={} user=crm_pw dbname=postgres password='${{PW}}'"}) {
    write_config(fmt::format(fmt::runtime(form), target.port()));
    const auto ok = run_process(argv, {{"PW", password}});
    CAPTURE(form);
    CAPTURE(ok.out);
    CAPTURE(ok.err);
    CHECK(ok.exit_code == 0);
    CHECK(ok.out.find("crm_pw@127.0.0.1") != std::string::npos);
  }
  // A wrong password fails, and neither it nor any part of it is printed.
  write_config(fmt::format("host=127.0.0.1 port={} user=crm_pw dbname=postgres password=${{PW}}", target.port()));
  const std::string wrong = "wrong pass' host=x";
  const auto bad = run_process(argv, {{"PW", wrong}});
  CHECK(bad.exit_code != 0);
  for (const auto* piece : {"wrong", "pass'", "host=x"}) {
    CHECK(bad.out.find(piece) == std::string::npos);
    CHECK(bad.err.find(piece) == std::string::npos);
  }
  // A hand-written string libpq cannot parse is refused without echoing it.
  write_config(fmt::format("host=127.0.0.1 port={} user=crm_pw password='unterminated secret", target.port()));
  const auto unparsable = run_process(argv);
  CAPTURE(unparsable.out);
  CHECK(unparsable.exit_code != 0);
  CHECK(unparsable.out.find("cannot be parsed") != std::string::npos);
  CHECK(unparsable.out.find("unterminated secret") == std::string::npos);
}

TEST_CASE(
    "live values: every connection has TCP keepalives and the pinned settings, and a DSN may tune the keepalives") {
  PgCluster pg("keepalive");
  crmsync::pq::ConnectOptions o;
  o.dsn = pg.dsn();
  o.settings = {{"datestyle", "ISO"}, {"synchronous_commit", "on"}};
  o.dsn += " options='-c datestyle=SQL,DMY -c work_mem=7MB'";
  auto conn = crmsync::pq::Connection::connect(o);
  REQUIRE(conn.ok());
  // A target host that vanishes without a RST is noticed in about a minute, not two hours.
  CHECK(conn->option("keepalives") == "1");
  CHECK(conn->option("keepalives_idle") == "30");
  CHECK(conn->option("keepalives_count") == "3");
  // The user's own options stay, ours win where both set the same parameter.
  auto res = conn->exec("SELECT current_setting('datestyle'), current_setting('work_mem')");
  REQUIRE(res.ok());
  CHECK(res->get(0, 0) == "ISO, DMY");
  CHECK(res->get(0, 1) == "7MB");
  o.dsn = pg.dsn() + " keepalives_idle=5 tcp_user_timeout=9000";
  auto tuned = crmsync::pq::Connection::connect(o);
  REQUIRE(tuned.ok());
  CHECK(tuned->option("keepalives_idle") == "5");
  CHECK(tuned->option("tcp_user_timeout") == "9000");
}
