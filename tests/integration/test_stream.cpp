// Streaming (issue #4) against real clusters: copy-then-follow under a write workload, every
// replica identity kind, TOAST, key changes, truncates, rollbacks, schema change, graceful stop.

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <csignal>

#include "support/pipeline.hpp"
#include "support/wait.hpp"

using namespace crmsync::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE public.accounts (id bigint PRIMARY KEY, name text NOT NULL, big text, n int);
CREATE TABLE public.full_ident (a int, b text, j json);
ALTER TABLE public.full_ident REPLICA IDENTITY FULL;
CREATE TABLE public.idx_ident (code text NOT NULL, v int);
CREATE UNIQUE INDEX idx_ident_code ON public.idx_ident (code);
ALTER TABLE public.idx_ident REPLICA IDENTITY USING INDEX idx_ident_code;
CREATE TABLE public.seq_t (id bigserial PRIMARY KEY, v text);
)sql";

const std::vector<std::string> kTables = {"public.accounts", "public.full_ident", "public.idx_ident", "public.seq_t"};

bool tables_equal(const PipelineFixture& p) {
  return table_checksum(p.target, "public.accounts", "id") == table_checksum(p.source, "public.accounts", "id") &&
         table_checksum(p.target, "public.full_ident", "t::text") ==
             table_checksum(p.source, "public.full_ident", "t::text") &&
         table_checksum(p.target, "public.idx_ident", "code") == table_checksum(p.source, "public.idx_ident", "code") &&
         table_checksum(p.target, "public.seq_t", "id") == table_checksum(p.source, "public.seq_t", "id");
}

}  // namespace

TEST_CASE("stream: copy then follow applies every kind of change, for every replica identity") {
  PipelineFixture p("stream-basic");
  p.source.exec(kSchema);
  p.target.exec(kSchema);
  // A value that lives out of line (TOAST) and does not compress: it must survive updates that
  // do not touch it ('u' in pgoutput), never be written as NULL.
  p.source.exec(R"sql(
INSERT INTO public.accounts SELECT g, 'acct ' || g, (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 400) i), g
  FROM generate_series(1, 200) g;
INSERT INTO public.full_ident SELECT g, 'b' || g, json_build_object('g', g) FROM generate_series(1, 50) g;
INSERT INTO public.full_ident VALUES (1, 'b1', '{"g": 1}');  -- an exact duplicate row
INSERT INTO public.idx_ident SELECT 'c' || g, g FROM generate_series(1, 50) g;
)sql");
  p.write_config(kTables, "apply:\n  max_batch_delay_ms: 20\n");
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  REQUIRE(wait_until([&] { return tables_equal(p); }, 60s));

  p.source.exec(R"sql(
UPDATE public.accounts SET n = n + 1000 WHERE id <= 100;                   -- big column unchanged: 'u'
UPDATE public.accounts SET id = id + 10000 WHERE id BETWEEN 101 AND 110;   -- primary key changes
DELETE FROM public.accounts WHERE id BETWEEN 111 AND 120;
INSERT INTO public.accounts VALUES (5000, 'new', repeat('z', 5000), 1);
BEGIN;
  INSERT INTO public.accounts VALUES (5001, 'multi 1', NULL, 1);
  UPDATE public.accounts SET name = 'multi 2' WHERE id = 5001;
  DELETE FROM public.accounts WHERE id = 1;
COMMIT;
BEGIN;
  INSERT INTO public.accounts VALUES (6000, 'rolled back', NULL, 1);
ROLLBACK;
UPDATE public.full_ident SET b = 'changed' WHERE a = 1;                    -- both duplicates
DELETE FROM public.full_ident WHERE a = 2;
UPDATE public.full_ident SET j = '{"g": "x"}' WHERE a = 3;
UPDATE public.idx_ident SET code = 'renamed' WHERE code = 'c1';
UPDATE public.idx_ident SET v = -1 WHERE code = 'c2';
DELETE FROM public.idx_ident WHERE code = 'c3';
INSERT INTO public.seq_t (v) SELECT 'v' || g FROM generate_series(1, 100) g;
TRUNCATE public.seq_t RESTART IDENTITY;
INSERT INTO public.seq_t (v) VALUES ('after truncate');
)sql");
  CHECK(wait_until([&] { return tables_equal(p); }, 60s));
  CHECK(p.target.query_value("SELECT count(*) FROM public.accounts WHERE big IS NULL") ==
        p.source.query_value("SELECT count(*) FROM public.accounts WHERE big IS NULL"));
  CHECK(p.target.query_value("SELECT count(*) FROM public.accounts WHERE id = 6000") == "0");
  CHECK(p.target.query_value("SELECT v FROM public.seq_t") == "after truncate");

  // The slot's confirmed position follows what was applied.
  CHECK(wait_until(
      [&] {
        return p.source.query_value(
                   "SELECT confirmed_flush_lsn >= pg_current_wal_lsn() - 1000000 FROM "
                   "pg_replication_slots WHERE slot_name = 'crmsync_it_pipeline'") == "t";
      },
      20s));
  run.signal(SIGTERM);
  const auto stopped = run.wait();
  CAPTURE(stopped.err);
  CHECK(stopped.exit_code == 0);
  CHECK(stopped.err.find("stopped at ") != std::string::npos);

  // The next run continues from where it stopped.
  p.source.exec("INSERT INTO public.accounts VALUES (7000, 'while stopped', NULL, 7)");
  BackgroundProcess again({crmsync_binary(), "run", "-c", p.config_path()});
  CHECK(wait_until([&] { return tables_equal(p); }, 60s));
  again.signal(SIGTERM);
  CHECK(again.wait().exit_code == 0);
}

TEST_CASE("stream: a column added on the source appears on the target with its values") {
  PipelineFixture p("stream-ddl");
  p.source.exec("CREATE TABLE public.contacts (id int PRIMARY KEY, email text)");
  p.target.exec("CREATE TABLE public.contacts (id int PRIMARY KEY, email text)");
  p.source.exec("INSERT INTO public.contacts SELECT g, 'e' || g FROM generate_series(1, 100) g");
  p.write_config({"public.contacts"});
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 100; }, 60s));
  p.source.exec(
      "ALTER TABLE public.contacts ADD COLUMN score numeric(6,2);"
      "UPDATE public.contacts SET score = id / 4.0 WHERE id <= 10;"
      "INSERT INTO public.contacts VALUES (101, 'new', 99.5);");
  CHECK(wait_until(
      [&] {
        return table_checksum(p.target, "public.contacts", "id") == table_checksum(p.source, "public.contacts", "id");
      },
      60s));
  CHECK(p.target.query_value("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                             "'public.contacts'::regclass AND attname = 'score'") == "numeric(6,2)");
  // A retyped column is a clear stop, naming the LSN and the DDL to run.
  p.source.exec(
      "ALTER TABLE public.contacts ALTER COLUMN email TYPE varchar(200); "
      "UPDATE public.contacts SET email = 'x' WHERE id = 1;");
  const auto r = run.wait();
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("source column public.contacts.email changed type from text to character varying(200); "
                   "crmsync will not convert silently. Run on the target: ALTER TABLE \"public\".\"contacts\" "
                   "ALTER COLUMN \"email\" TYPE character varying(200); then start crmsync again") !=
        std::string::npos);
}
