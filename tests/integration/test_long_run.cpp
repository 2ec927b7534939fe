// Months of parallel running (issue #10): an aged source whose xids pass 2^31 beyond the copy's
// snapshot, resumed copies of tables whose replica identity is not the primary key.

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "support/pipeline.hpp"
#include "support/wait.hpp"

using namespace crmsync::testing;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kTwo31 = 1ULL << 31;

std::uint64_t next_xid(const PgCluster& c) {
  return std::stoull(c.query_value("SELECT txid_current()"));
}

void load_xid_advance(const PgCluster& c) {
  // The server runs as another user, who may not be able to read the build tree (a clone in a
  // mktemp -d directory is 0700): give it a copy in the cluster's own directory.
  const char* root = std::getenv("CRMSYNC_PG_ROOT");
  const auto lib = fmt::format("{}/{}/xid_advance.so", root != nullptr ? root : "/tmp/crmsync-pg", c.name());
  std::filesystem::copy_file(CRMSYNC_TEST_PGEXT, lib, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::permissions(lib, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                        std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                        std::filesystem::perms::others_exec);
  c.exec(
      fmt::format("CREATE FUNCTION crmsync_test_advance_xids(bigint) RETURNS bigint AS '{}' LANGUAGE C STRICT", lib));
}

// VACUUM FREEZE in every database (template0 included), as a long-lived cluster's autovacuum
// does: without it the next step would pass the wraparound limit.
void freeze_all(const PgCluster& c) {
  c.exec("ALTER DATABASE template0 ALLOW_CONNECTIONS true");
  for (const auto* db : {"postgres", "template0", "template1"}) c.exec("VACUUM (FREEZE)", db);
  CHECK(std::stoll(c.query_value("SELECT max(age(datfrozenxid)) FROM pg_database")) < 100'000'000);
}

// Moves the xid counter forward by `n` and has one transaction take an id there.
void advance_xids(const PgCluster& c, std::int64_t n) {
  c.exec(fmt::format("SELECT crmsync_test_advance_xids({})", n));
  (void)next_xid(c);
  c.exec("CHECKPOINT");
}

// `crmsync check` reports `needle` as a failed "state" check: it tells before `run` refuses.
void check_reports(const PipelineFixture& p, const std::string& needle) {
  const auto r = p.crmsync({"check"});
  CAPTURE(r.out);
  CAPTURE(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find(needle) != std::string::npos);
}

}  // namespace

TEST_CASE("long run: changes 2^31 xids past the copy's snapshot, on a cluster at epoch 1, are applied") {
  PipelineFixture p("xid-age");
  // The legacy cluster has years behind it: epoch 1 (pg_resetwal -e while stopped, before any slot
  // exists) and a 32-bit xid counter past 2^31 (two steps, frozen in between as autovacuum would).
  REQUIRE(run_process({script_path("pg-cluster"), "stop-server", p.source.name(), std::to_string(p.source.port())})
              .exit_code == 0);
  REQUIRE(run_process({script_path("pg-cluster"), "set-epoch", p.source.name(), "1"}).exit_code == 0);
  REQUIRE(run_process({script_path("pg-cluster"), "start-server", p.source.name(), std::to_string(p.source.port())})
              .exit_code == 0);
  load_xid_advance(p.source);
  for (int step = 0; step < 2; ++step) {
    advance_xids(p.source, 1'100'000'000);
    freeze_all(p.source);
  }
  const auto aged = next_xid(p.source);
  REQUIRE((aged >> 32) >= 1);
  REQUIRE((aged & 0xFFFFFFFFULL) > kTwo31);

  const char* ddl =
      "CREATE TABLE public.contacts (id bigint PRIMARY KEY, name text, n int);"
      "CREATE TABLE public.daily (id int PRIMARY KEY, v text)";
  p.source.exec(ddl);
  p.target.exec(ddl);
  p.source.exec(
      "INSERT INTO public.contacts SELECT g, 'c' || g, 0 FROM generate_series(1, 3000) g;"
      "INSERT INTO public.daily SELECT g, 'd' FROM generate_series(1, 3000) g; ANALYZE");
  p.write_config({"public.contacts", "public.daily"},
                 "snapshot:\n  chunk_rows: 1000\napply:\n  max_batch_delay_ms: 10\n");
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  REQUIRE(wait_until([&] { return row_count(p.target, "public.daily") == 3000; }, 120s));
  // Every chunk was copied at the slot's snapshot, whose xmax is below this.
  const auto copied_below = next_xid(p.source);

  // More than 2^31 transactions later, in two steps: the slot's catalog_xmin follows the stream
  // (crmsync confirms), so the catalogs can be frozen between the steps.
  for (int step = 0; step < 2; ++step) {
    advance_xids(p.source, 1'100'000'000);
    const auto now = next_xid(p.source);
    REQUIRE(wait_until(
        [&] {
          p.source.exec(fmt::format("UPDATE public.contacts SET n = n + 1 WHERE id = 1; CHECKPOINT"));
          const auto slot_xmin = p.source.query_value(
              "SELECT catalog_xmin FROM pg_replication_slots WHERE slot_name = 'crmsync_it_pipeline'");
          return !slot_xmin.empty() && std::stoull(slot_xmin) >= (now & 0xFFFFFFFFULL) &&
                 std::stoull(slot_xmin) - (now & 0xFFFFFFFFULL) < 1'000'000;
        },
        120s));
    freeze_all(p.source);
  }
  const auto streamed_at = next_xid(p.source);
  REQUIRE(streamed_at - copied_below > kTwo31);
  MESSAGE("copy snapshot below xid ", copied_below, ", changes at xid ", streamed_at, " (", streamed_at - copied_below,
          " later)");

  // Every kind of change, on tables copied in three chunks each.
  p.source.exec(
      "INSERT INTO public.contacts SELECT g, 'new', 0 FROM generate_series(3001, 3100) g;"
      "UPDATE public.contacts SET name = 'updated' WHERE id % 100 = 7;"
      "DELETE FROM public.contacts WHERE id % 100 = 9;"
      "TRUNCATE public.daily; INSERT INTO public.daily SELECT g, 'refilled' FROM generate_series(1, 500) g");
  const auto equal = [&] {
    return table_checksum(p.source, "public.contacts", "id") == table_checksum(p.target, "public.contacts", "id") &&
           table_checksum(p.source, "public.daily", "id") == table_checksum(p.target, "public.daily", "id");
  };
  CHECK(wait_until(equal, 60s));
  CHECK(row_count(p.target, "public.daily") == 500);
  CHECK(row_count(p.target, "public.contacts") == 3100 - 31);
  CHECK(run.running());
}

namespace {

// leads: REPLICA IDENTITY FULL over an integer key, some rows with TOASTed payloads that key-moving
// UPDATEs leave unchanged. deals: REPLICA IDENTITY USING INDEX on another integer column.
constexpr const char* kResumeDdl = R"sql(
CREATE TABLE public.leads (id bigint PRIMARY KEY, name text, payload text);
ALTER TABLE public.leads REPLICA IDENTITY FULL;
CREATE TABLE public.deals (id bigint PRIMARY KEY, legacy_no int NOT NULL UNIQUE, stage text);
ALTER TABLE public.deals REPLICA IDENTITY USING INDEX deals_legacy_no_key;
)sql";

// One source transaction of the legacy CRM's day: inserts, updates, deletes, and rows moved to a
// key far away (into another chunk), in both tables.
std::string resume_workload(int i) {
  return fmt::format(R"sql(
INSERT INTO public.leads VALUES (({0}::bigint * 7919) % 200000 * 2 + 2, 'new {0}', NULL) ON CONFLICT DO NOTHING;
UPDATE public.leads SET name = 'touched {0}' WHERE id = ({0}::bigint * 104729) % 200000 + 1;
DELETE FROM public.leads WHERE id = ({0}::bigint * 15485863) % 200000 + 1 AND payload IS NULL;
UPDATE public.leads l SET id = l.id + 100001, name = 'moved {0}'
  WHERE l.id = (SELECT id FROM public.leads WHERE payload IS NOT NULL AND id % 2 = 1 AND id < 100000
                AND id > ({0}::bigint * 37) % 100000 ORDER BY id LIMIT 1)
    AND NOT EXISTS (SELECT 1 FROM public.leads WHERE id = l.id + 100001);
UPDATE public.leads l SET id = l.id - 100001, name = 'moved back {0}'
  WHERE l.id = (SELECT id FROM public.leads WHERE payload IS NOT NULL AND id % 2 = 1 AND id > 100001
                AND id > 100001 + ({0}::bigint * 37) % 100000 ORDER BY id LIMIT 1)
    AND NOT EXISTS (SELECT 1 FROM public.leads WHERE id = l.id - 100001);
INSERT INTO public.deals VALUES (1000000 + {0}, 1000000 + {0}, 'open') ON CONFLICT DO NOTHING;
UPDATE public.deals SET stage = 'won {0}' WHERE id = ({0}::bigint * 104729) % 100000 + 1;
UPDATE public.deals SET legacy_no = legacy_no + 2000000 WHERE id = ({0}::bigint * 7919) % 100000 + 1 AND legacy_no < 2000000;
UPDATE public.deals d SET id = d.id + 5000000 WHERE d.id = ({0}::bigint * 31) % 100000 + 1;
DELETE FROM public.deals WHERE id = ({0}::bigint * 15485863) % 100000 + 1;
)sql",
                     i);
}

}  // namespace

TEST_CASE("long run: a copy resumed under load is reconciled by its chunk column, whatever the replica identity") {
  PipelineFixture p("resume-ident");
  p.source.exec(kResumeDdl);
  p.target.exec(kResumeDdl);
  p.source.exec(
      "INSERT INTO public.leads SELECT g, 'lead ' || g, CASE WHEN g % 50 = 1 THEN (SELECT string_agg(md5(g::text || "
      "s), "
      "'') FROM generate_series(1, 200) s) END FROM generate_series(1, 200000, 2) g;"
      "INSERT INTO public.deals SELECT g, g, 'new' FROM generate_series(1, 100000) g; ANALYZE");
  p.write_config({"public.leads", "public.deals"},
                 "snapshot:\n  chunk_rows: 2500\n  parallel: 2\napply:\n  max_batch_delay_ms: 10\n");
  std::atomic<int> transactions{0};
  std::string writer_error;
  LoopThread writer([&](int i) {
    if (!writer_error.empty()) return std::this_thread::sleep_for(50ms);
    try {
      p.source.exec(resume_workload(i));
      transactions = i;
    } catch (const std::exception& e) {
      writer_error = e.what();
    }
  });
  // Two kills mid-copy: later rounds copy the remaining chunks at newer snapshots, which already
  // hold some of the changes the stream replays from the slot's consistent point.
  auto committed = [&] {
    return p.target.query_value("SELECT to_regclass('crmsync.copy_progress') IS NOT NULL") == "t"
               ? std::stoi(p.target.query_value("SELECT count(*) FROM crmsync.copy_progress"))
               : 0;
  };
  int kills = 0;
  for (int round = 0; round < 2; ++round) {
    const int before = committed();
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    wait_until([&] { return !run.running() || committed() >= before + 6; }, 120s);
    if (!run.running()) break;
    run.signal(SIGKILL);
    (void)run.wait();
    ++kills;
  }
  CHECK(kills == 2);
  {
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    // Streaming (a batch committed) under load; then a restart replays from its position.
    REQUIRE(wait_until(
        [&] {
          return p.target.query_value("SELECT count(*) FROM crmsync.apply_progress WHERE pipeline = 'it_pipeline'") ==
                 "1";
        },
        180s));
    std::this_thread::sleep_for(2s);
    run.signal(SIGTERM);
    const auto r = run.wait();
    CAPTURE(r.err);
    REQUIRE(r.exit_code == 0);
  }
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  std::this_thread::sleep_for(2s);
  writer.stop();
  MESSAGE(transactions.load(), " source transactions during the copy and the stream");
  REQUIRE(writer_error.empty());
  const auto equal = [&] {
    return table_checksum(p.source, "public.leads", "id") == table_checksum(p.target, "public.leads", "id") &&
           table_checksum(p.source, "public.deals", "id") == table_checksum(p.target, "public.deals", "id");
  };
  CHECK(wait_until(equal, 90s));
  CHECK(run.running());
  run.signal(SIGTERM);
  const auto r = run.wait();
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("23505") == std::string::npos);
}

TEST_CASE("long run: a source TRUNCATE CASCADE never empties the new CRM's own tables, and RESTART IDENTITY is kept") {
  PipelineFixture p("truncate");
  const char* ddl =
      "CREATE TABLE public.contacts (id bigint PRIMARY KEY, name text);"
      "CREATE TABLE public.notes (id bigint PRIMARY KEY, contact_id bigint REFERENCES public.contacts, body text);"
      "CREATE TABLE public.tickets (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, subject text)";
  p.source.exec(ddl);
  p.target.exec(ddl);
  // The new CRM's own table, referencing a replicated one.
  p.target.exec("CREATE TABLE public.crm_tasks (id int PRIMARY KEY, contact_id bigint REFERENCES public.contacts)");
  p.source.exec(
      "INSERT INTO public.contacts SELECT g, 'c' FROM generate_series(1, 100) g;"
      "INSERT INTO public.notes SELECT g, g, 'n' FROM generate_series(1, 100) g;"
      "INSERT INTO public.tickets (subject) SELECT 't' FROM generate_series(1, 50)");
  p.write_config({"public.contacts", "public.notes", "public.tickets"}, "apply:\n  max_batch_delay_ms: 10\n");
  {
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    REQUIRE(wait_until([&] { return row_count(p.target, "public.notes") == 100; }, 60s));
    p.target.exec(
        "INSERT INTO public.crm_tasks SELECT g, g FROM generate_series(1, 10) g;"
        "SELECT setval('public.tickets_id_seq', 500)");
    p.source.exec("TRUNCATE public.tickets RESTART IDENTITY");
    REQUIRE(wait_until([&] { return row_count(p.target, "public.tickets") == 0; }, 30s));
    CHECK(p.target.query_value("SELECT last_value || ' ' || is_called FROM public.tickets_id_seq") == "1 false");

    p.source.exec("TRUNCATE public.contacts CASCADE");  // empties notes too, on the source
    REQUIRE(wait_until([&] { return !run.running(); }, 60s));
    const auto r = run.wait();
    CAPTURE(r.err);
    CHECK(r.exit_code == 65);
    CHECK(r.err.find("public.crm_tasks (crm_tasks_contact_id_fkey) references public.contacts") != std::string::npos);
    CHECK(r.err.find("never cascades") != std::string::npos);
  }
  CHECK(row_count(p.target, "public.crm_tasks") == 10);
  CHECK(row_count(p.target, "public.contacts") == 100);  // the transaction was not applied in part
  CHECK(row_count(p.target, "public.notes") == 100);

  // The new CRM's team decides: the tasks go. The TRUNCATE then applies whole.
  p.target.exec("DELETE FROM public.crm_tasks");
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  CHECK(wait_until(
      [&] { return row_count(p.target, "public.contacts") == 0 && row_count(p.target, "public.notes") == 0; }, 60s));
  p.source.exec("INSERT INTO public.contacts VALUES (1, 'again')");
  CHECK(wait_until([&] { return row_count(p.target, "public.contacts") == 1; }, 30s));
  run.signal(SIGTERM);
  const auto r = run.wait();
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
}

namespace {

std::string columns_checksum(const PgCluster& c, const std::string& table, const std::string& columns) {
  return c.query_value(
      fmt::format("SELECT md5(coalesce(string_agg(row({})::text, '|' ORDER BY id), '')) FROM {}", columns, table));
}

}  // namespace

TEST_CASE("long run: schema drift is diffed against the source's previous layout, and renames stop and resume") {
  PipelineFixture p("drift");
  p.source.exec("CREATE TABLE public.contacts (id bigint PRIMARY KEY, name varchar(100), email text)");
  // The new CRM widened a type on purpose and has a column of its own.
  p.target.exec(
      "CREATE TABLE public.contacts (id bigint PRIMARY KEY, name varchar(255), email text, crm_score int DEFAULT 0)");
  p.source.exec("INSERT INTO public.contacts SELECT g, 'n' || g, 'e' || g FROM generate_series(1, 50) g");
  p.write_config({"public.contacts"}, "apply:\n  max_batch_delay_ms: 10\n");
  const auto same = [&](const std::string& source_table, const std::string& columns) {
    return [&p, source_table, columns] {
      try {
        return columns_checksum(p.source, source_table, columns) ==
               columns_checksum(p.target, "public.contacts", columns);
      } catch (const std::exception&) {
        return false;  // a column not there yet
      }
    };
  };
  {
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 50; }, 60s));
    p.source.exec("UPDATE public.contacts SET name = 'changed' WHERE id = 1");
    REQUIRE(wait_until(same("public.contacts", "id, name, email"), 30s));
    // ADD COLUMN with a default: the source's existing rows read it, so must the target's.
    p.source.exec(
        "ALTER TABLE public.contacts ADD COLUMN tier text DEFAULT 'gold';"
        "INSERT INTO public.contacts VALUES (51, 'n51', 'e51', 'silver')");
    REQUIRE(wait_until(same("public.contacts", "id, name, email, tier"), 30s));
    CHECK(p.target.query_value("SELECT count(*) FROM public.contacts WHERE tier = 'gold'") == "50");
    // RENAME COLUMN: a stop that says what to run, never a second column and advice to drop the first.
    p.source.exec(
        "ALTER TABLE public.contacts RENAME COLUMN email TO email_address;"
        "UPDATE public.contacts SET email_address = 'x@example.com' WHERE id = 2");
    REQUIRE(wait_until([&] { return !run.running(); }, 60s));
    const auto r = run.wait();
    CAPTURE(r.err);
    CHECK(r.exit_code == 65);
    CHECK(r.err.find("RENAME COLUMN \"email\" TO \"email_address\"") != std::string::npos);
    CHECK(r.err.find("DROP COLUMN") == std::string::npos);
  }
  CHECK(p.target.query_value("SELECT count(email) FROM public.contacts") == "51");
  CHECK(p.target.query_value("SELECT count(*) FROM information_schema.columns WHERE table_name = 'contacts' AND "
                             "column_name = 'email_address'") == "0");
  p.target.exec("ALTER TABLE public.contacts RENAME COLUMN email TO email_address");
  {
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    REQUIRE(wait_until(same("public.contacts", "id, name, email_address, tier"), 60s));
    // DROP COLUMN on the source: the target keeps the column and what it holds.
    p.source.exec(
        "ALTER TABLE public.contacts DROP COLUMN tier;"
        "INSERT INTO public.contacts (id, name) VALUES (52, 'after the drop')");
    REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 52; }, 30s));
    CHECK(p.target.query_value("SELECT count(*) FROM public.contacts WHERE tier IS NOT NULL AND id <= 51") == "51");
    // RENAME TABLE: a stop naming both names and the config change, never an ignored change.
    p.source.exec(
        "ALTER TABLE public.contacts RENAME TO people;"
        "INSERT INTO public.people (id, name) VALUES (53, 'after the rename')");
    REQUIRE(wait_until([&] { return !run.running(); }, 60s));
    const auto r = run.wait();
    CAPTURE(r.err);
    CHECK(r.exit_code == 65);
    CHECK(r.err.find("source table public.contacts (relation") != std::string::npos);
    CHECK(r.err.find("was renamed to public.people") != std::string::npos);
    CHECK(r.err.find("mappings: - from: public.people to: public.contacts") != std::string::npos);
  }
  CHECK(row_count(p.target, "public.contacts") == 52);
  check_reports(p, "was renamed to public.people");
  // The operator follows the advice; the stream resumes with the change it stopped at.
  p.write_config({"public.people"},
                 "apply:\n  max_batch_delay_ms: 10\nmappings:\n  - from: public.people\n    to: public.contacts\n");
  {
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 53; }, 60s));
    p.source.exec("UPDATE public.people SET name = 'later' WHERE id = 53");
    CHECK(wait_until(same("public.people", "id, name, email_address"), 30s));
    run.signal(SIGTERM);
    const auto r = run.wait();
    CAPTURE(r.err);
    CHECK(r.exit_code == 0);
  }
  // A table added to source.tables of a running pipeline is refused, not silently left out.
  p.source.exec("CREATE TABLE public.extra (id int PRIMARY KEY)");
  p.target.exec("CREATE TABLE public.extra (id int PRIMARY KEY)");
  p.write_config({"public.people", "public.extra"},
                 "apply:\n  max_batch_delay_ms: 10\nmappings:\n  - from: public.people\n    to: public.contacts\n");
  check_reports(p, "public.extra was added to source.tables after this pipeline copied");
  const auto r = p.crmsync({"run"});
  CAPTURE(r.err);
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("public.extra was added to source.tables after this pipeline copied") != std::string::npos);
}

TEST_CASE("long run: after a source DROP + ADD COLUMN the apply statements follow the new column positions") {
  PipelineFixture p("shapes");
  const char* ddl = "CREATE TABLE public.contacts (id int PRIMARY KEY, b text, c text)";
  p.source.exec(ddl);
  p.target.exec(ddl);
  p.write_config({"public.contacts"}, "apply:\n  max_batch_delay_ms: 10\n");
  p.source.exec("INSERT INTO public.contacts VALUES (1, 'b1', 'c1')");
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 1; }, 60s));
  // Streamed, so the apply has prepared its INSERT and UPDATE for the (id, b, c) positions.
  p.source.exec(
      "INSERT INTO public.contacts VALUES (3, 'b3', 'c3'); UPDATE public.contacts SET b = 'b3.' WHERE id = 3");
  REQUIRE(wait_until(
      [&] { return p.target.query_value("SELECT count(*) FROM public.contacts WHERE b = 'b3.'") == "1"; }, 60s));
  // The source's column order becomes (id, c, b): the same positions now mean other columns.
  p.source.exec(
      "ALTER TABLE public.contacts DROP COLUMN b; ALTER TABLE public.contacts ADD COLUMN b text;"
      "INSERT INTO public.contacts (id, b, c) VALUES (2, 'b2', 'c2');"
      "UPDATE public.contacts SET b = 'b1 again' WHERE id = 1");
  REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 3; }, 30s));
  CHECK(wait_until([&] { return p.target.query_value("SELECT b FROM public.contacts WHERE id = 1") == "b1 again"; },
                   30s));
  CHECK(p.target.query_value("SELECT b || ' ' || c FROM public.contacts WHERE id = 2") == "b2 c2");
  CHECK(p.target.query_value("SELECT c FROM public.contacts WHERE id = 1") == "c1");
  CHECK(run.running());
}

namespace {

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("long run: an error raised by the walsender is read, and repeated without progress stops with exit 65") {
  PipelineFixture p("walsender-error");
  const char* ddl = "CREATE TABLE public.contacts (id int PRIMARY KEY, name text)";
  p.source.exec(ddl);
  p.target.exec(ddl);
  p.source.exec("INSERT INTO public.contacts SELECT g, 'c' FROM generate_series(1, 10) g");
  p.write_config({"public.contacts"}, "apply:\n  max_batch_delay_ms: 10\n");
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 10; }, 60s));
  // Someone drops the publication by hand: the walsender fails on the next change, every time.
  p.source.exec("DROP PUBLICATION crmsync_it_pipeline");
  p.source.exec("INSERT INTO public.contacts VALUES (11, 'after')");
  REQUIRE(wait_until([&] { return !run.running(); }, 90s));
  const auto r = run.wait();
  CAPTURE(r.err);
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("publication \"crmsync_it_pipeline\" does not exist (SQLSTATE 42704)") != std::string::npos);
  CHECK(r.err.find("failed 5 times in a row") != std::string::npos);
  CHECK(occurrences(r.err, "reconnecting to the source") <= 5);
}

TEST_CASE("long run: a source that sends nothing, not even keepalives, is noticed and the stream reconnects") {
  PipelineFixture p("walsender-frozen");
  const char* ddl = "CREATE TABLE public.contacts (id int PRIMARY KEY, name text)";
  p.source.exec(ddl);
  p.target.exec(ddl);
  p.dir.write(
      "crmsync.yaml",
      fmt::format("name: it_pipeline\nstate_dir: {}\nhttp:\n  listen: 127.0.0.1:0\nsource:\n  dsn: \"{}\"\n  tables: "
                  "[public.contacts]\n  receive_timeout_s: 2\ntarget:\n  dsn: \"{}\"\n"
                  "apply:\n  max_batch_delay_ms: 10\n",
                  p.state_dir(), p.source.dsn(), p.target.dsn()));
  p.source.exec("INSERT INTO public.contacts VALUES (1, 'copied')");
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 1; }, 60s));
  // Row 2 arrives through the stream: the slot's active walsender is then the streaming one.
  p.source.exec("INSERT INTO public.contacts VALUES (2, 'streamed')");
  REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 2; }, 60s));
  std::string pid;
  REQUIRE(wait_until(
      [&] {
        pid =
            p.source.query_value("SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'crmsync_it_pipeline'");
        return !pid.empty();
      },
      60s));
  const int walsender = std::stoi(pid);
  // A frozen walsender: the connection stays open and nothing arrives on it.
  REQUIRE(::kill(walsender, SIGSTOP) == 0);
  std::this_thread::sleep_for(4s);
  REQUIRE(::kill(walsender, SIGCONT) == 0);  // it finds its client gone and exits, freeing the slot
  p.source.exec("INSERT INTO public.contacts VALUES (3, 'after the freeze')");
  CHECK(wait_until([&] { return row_count(p.target, "public.contacts") == 3; }, 60s));
  CHECK(p.source.query_value("SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'crmsync_it_pipeline'") !=
        std::to_string(walsender));
  run.signal(SIGTERM);
  const auto r = run.wait();
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("nothing received from the source for 2 s") != std::string::npos);
}

TEST_CASE("long run: a publication edited by hand, another slot name and a slot consumed past the target are refused") {
  PipelineFixture p("pub-drift");
  const char* ddl = "CREATE TABLE public.contacts (id int PRIMARY KEY, name text)";
  p.source.exec(ddl);
  p.target.exec(ddl);
  p.source.exec("INSERT INTO public.contacts SELECT g, 'c' FROM generate_series(1, 10) g");
  p.write_config({"public.contacts"}, "apply:\n  max_batch_delay_ms: 10\n");
  {
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 10; }, 60s));
    // check reads the state of the running daemon without disturbing it, and finds nothing wrong.
    p.source.exec("INSERT INTO public.contacts SELECT g, 'c' FROM generate_series(101, 200) g");
    const auto healthy = p.crmsync({"check", "--json"});
    CAPTURE(healthy.out);
    CAPTURE(healthy.err);
    CHECK(healthy.exit_code == 0);
    CHECK(healthy.out.find("publishes every change of source.tables") != std::string::npos);
    CHECK(healthy.out.find("phase streaming") != std::string::npos);
    REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 110; }, 60s));
    run.signal(SIGTERM);
    REQUIRE(run.wait().exit_code == 0);
  }
  const auto refused = [&](const std::string& needle) {
    check_reports(p, needle);
    const auto r = p.crmsync({"run"});
    CAPTURE(r.err);
    CHECK(r.exit_code == 65);
    CHECK(r.err.find(needle) != std::string::npos);
  };
  p.source.exec("ALTER PUBLICATION crmsync_it_pipeline SET (publish = 'insert, update')");
  refused("does not publish delete, truncate");
  p.source.exec(
      "ALTER PUBLICATION crmsync_it_pipeline SET (publish = 'insert, update, delete, truncate');"
      "ALTER PUBLICATION crmsync_it_pipeline SET TABLE public.contacts WHERE (id > 5)");
  refused("has a row filter on public.contacts");
  p.source.exec("ALTER PUBLICATION crmsync_it_pipeline SET TABLE public.contacts (id)");
  refused("has a column list on public.contacts");
  p.source.exec(
      "CREATE TABLE public.other (id int PRIMARY KEY);"
      "ALTER PUBLICATION crmsync_it_pipeline SET TABLE public.contacts, public.other");
  refused("also publishes public.other, which is not in source.tables");
  p.source.exec("ALTER PUBLICATION crmsync_it_pipeline SET TABLE public.contacts");
  // The config names another slot mid-migration.
  p.dir.write(
      "crmsync.yaml",
      fmt::format("name: it_pipeline\nstate_dir: {}\nhttp:\n  listen: 127.0.0.1:0\nsource:\n  dsn: \"{}\"\n  tables: "
                  "[public.contacts]\n  slot: other_slot\ntarget:\n  dsn: \"{}\"\n",
                  p.state_dir(), p.source.dsn(), p.target.dsn()));
  refused("streams from slot \"crmsync_it_pipeline\"");
  p.write_config({"public.contacts"}, "apply:\n  max_batch_delay_ms: 10\n");
  // Someone consumed the slot past what the target holds: the gap is lost, never streamed over.
  p.source.exec("INSERT INTO public.contacts VALUES (11, 'consumed elsewhere')");
  p.source.exec("SELECT pg_replication_slot_advance('crmsync_it_pipeline', pg_current_wal_lsn())");
  refused("confirmed_flush_lsn");
  CHECK(row_count(p.target, "public.contacts") == 110);
}
