// The initial copy (issue #3) against real clusters: types, edge cases, snapshot consistency.

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "support/pipeline.hpp"

using namespace crmsync::testing;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(CRMSYNC_SOURCE_DIR) + "/tests/fixtures/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void require_ok(const ProcessResult& r) {
  CAPTURE(r.out);
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
}

}  // namespace

TEST_CASE("copy: every type survives the round trip byte for byte (binary and text COPY)") {
  PipelineFixture p("copy-types");
  p.source.exec(fixture("types_schema.sql") + fixture("types_data.sql"));
  p.target.exec(fixture("types_schema.sql"));
  p.write_config({"public.builtin_types", "public.user_types"}, "snapshot:\n  chunk_rows: 1000\n");
  require_ok(p.crmsync({"run", "--stop-after-copy"}));
  for (const auto& t : {"public.builtin_types", "public.user_types"}) {
    CAPTURE(t);
    CHECK(row_count(p.target, t) == row_count(p.source, t));
    CHECK(table_checksum(p.target, t, "id") == table_checksum(p.source, t, "id"));
  }
  // Byte-level spot checks on values whose text forms are easy to get wrong.
  CHECK(p.target.query_value("SELECT num::text FROM public.builtin_types WHERE id = 1") ==
        "123456789012345678901234567890.123456789012345678901234567890123");
  CHECK(p.target.query_value("SELECT f8::text || ',' || num::text FROM public.builtin_types WHERE id = 2") ==
        "Infinity,NaN");
  CHECK(p.target.query_value("SELECT tstz::text FROM public.builtin_types WHERE id = 1") == "-infinity");
  CHECK(p.target.query_value("SELECT md5(bin) FROM public.builtin_types WHERE id = 3") ==
        p.source.query_value("SELECT md5(bin) FROM public.builtin_types WHERE id = 3"));
  CHECK(p.target.query_value("SELECT ms::text FROM public.user_types WHERE id = 1") == "{sad,NULL,happy}");
}

TEST_CASE("copy: edge-case tables (empty, key only, no key, odd names, partitioned, generated columns)") {
  PipelineFixture p("copy-edges");
  const std::string ddl = R"sql(
CREATE TABLE public.empty_t (id int PRIMARY KEY, v text);
CREATE TABLE public.key_only (id bigint PRIMARY KEY);
CREATE TABLE public.no_key (a text, b int);
ALTER TABLE public.no_key REPLICA IDENTITY FULL;
CREATE SCHEMA "Sales Team";
CREATE TABLE "Sales Team"."Order Lines ü" ("Line ID" int PRIMARY KEY, "Qty" int, "naïve col" text);
CREATE TABLE public.events (id bigint, at date NOT NULL, what text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE public.events_2023 PARTITION OF public.events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE public.events_2024 PARTITION OF public.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
)sql";
  p.source.exec(ddl +
                "CREATE TABLE public.gen (id int PRIMARY KEY, a int, doubled int GENERATED ALWAYS AS (a * 2) STORED);");
  p.target.exec(ddl +
                "CREATE TABLE public.gen (id int PRIMARY KEY, a int, doubled int GENERATED ALWAYS AS (a * 2) STORED);");
  p.source.exec(R"sql(
INSERT INTO public.key_only SELECT generate_series(1, 2500);
INSERT INTO public.no_key SELECT md5(g::text), g FROM generate_series(1, 5000) g;
INSERT INTO public.no_key SELECT NULL, NULL FROM generate_series(1, 10);
INSERT INTO "Sales Team"."Order Lines ü" SELECT g, g % 7, 'ß' || g FROM generate_series(1, 3000) g;
INSERT INTO public.events SELECT g, date '2023-06-01' + (g % 400), 'e' || g FROM generate_series(1, 4000) g;
INSERT INTO public.gen SELECT g, g FROM generate_series(1, 2000) g;
ANALYZE;
)sql");
  p.write_config({"public.empty_t", "public.key_only", "public.no_key", "\"Sales Team\".\"Order Lines ü\"",
                  "public.events", "public.gen"},
                 "snapshot:\n  chunk_rows: 1000\n  parallel: 3\n");
  require_ok(p.crmsync({"run", "--stop-after-copy"}));
  CHECK(row_count(p.target, "public.empty_t") == 0);
  CHECK(row_count(p.target, "public.key_only") == 2500);
  CHECK(table_checksum(p.target, "public.no_key", "t::text") == table_checksum(p.source, "public.no_key", "t::text"));
  CHECK(row_count(p.target, "public.no_key") == 5010);
  CHECK(table_checksum(p.target, "\"Sales Team\".\"Order Lines ü\"", "\"Line ID\"") ==
        table_checksum(p.source, "\"Sales Team\".\"Order Lines ü\"", "\"Line ID\""));
  CHECK(table_checksum(p.target, "public.events", "id, at") == table_checksum(p.source, "public.events", "id, at"));
  CHECK(row_count(p.target, "public.events_2024") == row_count(p.source, "public.events_2024"));
  // Generated columns are not copied; the target computes them, so the rows still match.
  CHECK(table_checksum(p.target, "public.gen", "id") == table_checksum(p.source, "public.gen", "id"));
  // The multi-chunk tables really were split.
  CHECK(std::stoi(p.target.query_value(
            "SELECT count(*) FROM crmsync.copy_progress WHERE source_table = 'public.key_only'")) >= 2);
  CHECK(std::stoi(p.target.query_value(
            "SELECT count(*) FROM crmsync.copy_progress WHERE source_table = 'public.no_key'")) >= 2);
}

TEST_CASE("copy: target tables are created on request, and a non-empty target is refused unless truncating") {
  PipelineFixture p("copy-create");
  p.source.exec(
      "CREATE TABLE public.accounts (id bigint PRIMARY KEY, name text NOT NULL, score numeric(5,2));"
      "INSERT INTO public.accounts SELECT g, 'acct ' || g, g % 100 FROM generate_series(1, 1500) g;");
  p.write_config({"public.accounts"});
  auto missing = p.crmsync({"run", "--stop-after-copy"});
  CHECK(missing.exit_code == 65);
  CHECK(missing.err.find("preflight: target table public.accounts: does not exist on the target: create it (the new "
                         "CRM owns its schema), or set target.create_tables: true for an identity mapping") !=
        std::string::npos);

  PipelineFixture q("copy-create2");
  q.source.exec(
      "CREATE TABLE public.accounts (id bigint PRIMARY KEY, name text NOT NULL, score numeric(5,2));"
      "INSERT INTO public.accounts SELECT g, 'acct ' || g, g % 100 FROM generate_series(1, 1500) g;");
  q.dir.write("crmsync.yaml", fmt::format(R"yaml(name: it_create
state_dir: {}
http:
  listen: 127.0.0.1:0
source:
  dsn: "{}"
  tables: [public.accounts]
target:
  dsn: "{}"
  create_tables: true
)yaml",
                                          q.state_dir(), q.source.dsn(), q.target.dsn()));
  require_ok(q.crmsync({"run", "--stop-after-copy"}));
  CHECK(table_checksum(q.target, "public.accounts", "id") == table_checksum(q.source, "public.accounts", "id"));
  CHECK(q.target.query_value("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                             "WHERE attrelid = 'public.accounts'::regclass AND attname = 'score'") == "numeric(5,2)");

  PipelineFixture r("copy-nonempty");
  r.source.exec("CREATE TABLE public.t (id int PRIMARY KEY); INSERT INTO public.t SELECT generate_series(1, 10);");
  r.target.exec("CREATE TABLE public.t (id int PRIMARY KEY); INSERT INTO public.t VALUES (999);");
  r.write_config({"public.t"});
  auto refused = r.crmsync({"run", "--stop-after-copy"});
  CHECK(refused.exit_code == 65);
  CHECK(refused.err.find("target table public.t is not empty: the initial copy needs empty tables; empty it, or set "
                         "snapshot.truncate_target: true to have crmsync truncate it") != std::string::npos);
  r.write_config({"public.t"}, "snapshot:\n  truncate_target: true\n");
  require_ok(r.crmsync({"run", "--stop-after-copy"}));
  CHECK(table_checksum(r.target, "public.t", "id") == table_checksum(r.source, "public.t", "id"));
}
