// Consolidation (issue #11): two legacy databases whose ids collide feed one new-CRM table, each
// through its own pipeline (its own slot, config, checkpoint and progress row), both copying and
// streaming at once. A constant column tags each row's origin and the mapping's `key` names the
// target key, so updates and deletes find their own system's row, and a TRUNCATE on one legacy
// system empties only that system's rows.

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <string>

#include "support/pipeline.hpp"
#include "support/wait.hpp"

using namespace crmsync::testing;
using namespace std::chrono_literals;

namespace {

std::string pipeline_config(const PipelineFixture& p, const PgCluster& source, const std::string& name) {
  return p.dir.write(name + ".yaml", fmt::format(R"yaml(name: {0}
state_dir: {1}/state_{0}
http:
  listen: 127.0.0.1:0
source:
  dsn: "{2}"
  tables:
    - public.contacts
target:
  dsn: "{3}"
snapshot:
  chunk_rows: 1000
  parallel: 2
apply:
  max_batch_delay_ms: 10
log:
  level: debug
mappings:
  - from: public.contacts
    to: crm.people
    columns:
      id: legacy_id
      email: {{transform: lower}}
    add:
      source_system: {{constant: {0}}}
    key: [source_system, legacy_id]
)yaml",
                                                 name, p.dir.path(), source.dsn(), p.target.dsn()));
}

std::string digest(const PgCluster& c, const std::string& select) {
  return c.query_value(fmt::format("SELECT md5(coalesce(string_agg(r::text, '|'), '')) FROM ({}) r", select));
}

std::string legacy_rows(const PgCluster& c, const std::string& origin) {
  return digest(c, fmt::format("SELECT '{}' AS o, id, name, lower(email) FROM public.contacts ORDER BY id", origin));
}

std::string target_rows(const PgCluster& c, const std::string& origin) {
  return digest(c, fmt::format("SELECT source_system, legacy_id, name, email FROM crm.people WHERE source_system = "
                               "'{}' ORDER BY legacy_id",
                               origin));
}

}  // namespace

TEST_CASE(
    "consolidation: two legacy databases with colliding ids stream into one table at once, every row once with its "
    "origin, and a TRUNCATE on one empties only its rows") {
  PipelineFixture p("consolidate");
  PgCluster other("consolidate-b");
  const char* legacy = "CREATE TABLE public.contacts (id bigint PRIMARY KEY, name text, email text)";
  p.source.exec(legacy);
  other.exec(legacy);
  // Ids 1..2000 exist in both systems: different people under the same number.
  p.source.exec(
      "INSERT INTO public.contacts SELECT g, 'a' || g, 'A' || g || '@A.example' FROM generate_series(1, 3000) g");
  other.exec(
      "INSERT INTO public.contacts SELECT g, 'b' || g, 'B' || g || '@B.example' FROM generate_series(1, 2000) g");
  p.target.exec(
      "CREATE SCHEMA crm; CREATE TABLE crm.people (id bigint GENERATED ALWAYS AS IDENTITY, source_system text NOT "
      "NULL, legacy_id bigint NOT NULL, name text, email text, PRIMARY KEY (source_system, legacy_id))");
  const auto config_a = pipeline_config(p, p.source, "legacy_a");
  const auto config_b = pipeline_config(p, other, "legacy_b");
  {
    // check sees the target key and the unique index the new CRM has on it.
    BackgroundProcess check({crmsync_binary(), "check", "-c", config_a});
    const auto r = check.wait();
    CAPTURE(r.out);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("rows found by the key (source_system, legacy_id)") != std::string::npos);
  }
  // Both legacy systems keep writing, from the first second of both copies, to the ids they share.
  auto conn_a = p.source.connect();
  auto conn_b = other.connect();
  LoopThread writes_a([&](int i) {
    (void)conn_a.exec(fmt::format(
        "UPDATE public.contacts SET name = name || '+' WHERE id = {0}; DELETE FROM public.contacts WHERE id = {1}; "
        "INSERT INTO public.contacts VALUES ({2}, 'a new', 'NEW@A.example')",
        1 + (i * 7) % 2000, 2001 + i % 900, 10000 + i));
    std::this_thread::sleep_for(5ms);
  });
  LoopThread writes_b([&](int i) {
    (void)conn_b.exec(fmt::format(
        "UPDATE public.contacts SET name = name || '-', email = 'Changed' || {0} || '@B.example' WHERE id = {0}; "
        "INSERT INTO public.contacts VALUES ({1}, 'b new', 'NEW@B.example')",
        1 + (i * 13) % 2000, 10000 + i));
    std::this_thread::sleep_for(5ms);
  });
  BackgroundProcess run_a({crmsync_binary(), "run", "-c", config_a});
  BackgroundProcess run_b({crmsync_binary(), "run", "-c", config_b});
  const auto streaming = [&](const std::string& name) {
    return p.target.query_value("SELECT to_regclass('crmsync.apply_progress') IS NOT NULL") == "t" &&
           p.target.query_value(
               fmt::format("SELECT count(*) FROM crmsync.apply_progress WHERE pipeline = '{}'", name)) == "1";
  };
  REQUIRE(wait_until(
      [&] { return (streaming("legacy_a") && streaming("legacy_b")) || !run_a.running() || !run_b.running(); }, 120s));
  for (auto* run : {&run_a, &run_b}) {
    if (run->running()) continue;
    const auto r = run->wait();
    FAIL(r.err);
  }
  std::this_thread::sleep_for(1s);
  writes_a.stop();
  writes_b.stop();
  // Legacy B's nightly job empties and refills its table: legacy A's rows must stay.
  other.exec(
      "BEGIN; TRUNCATE public.contacts; INSERT INTO public.contacts SELECT g, 'b refill ' || g, 'R' || g || "
      "'@B.example' FROM generate_series(1, 1500) g; COMMIT");
  p.source.exec("UPDATE public.contacts SET email = 'Last@A.example' WHERE id = 1");
  const auto converged = [&] {
    return target_rows(p.target, "legacy_a") == legacy_rows(p.source, "legacy_a") &&
           target_rows(p.target, "legacy_b") == legacy_rows(other, "legacy_b");
  };
  CHECK(wait_until(converged, 90s));
  // Every row once, with its origin: as many as both systems hold together, and nothing else.
  CHECK(row_count(p.target, "crm.people") ==
        row_count(p.source, "public.contacts") + row_count(other, "public.contacts"));
  CHECK(p.target.query_value("SELECT count(*) FROM crm.people WHERE source_system NOT IN ('legacy_a', 'legacy_b')") ==
        "0");
  CHECK(p.target.query_value("SELECT email FROM crm.people WHERE source_system = 'legacy_a' AND legacy_id = 1") ==
        "last@a.example");
  CHECK(p.target.query_value("SELECT name FROM crm.people WHERE source_system = 'legacy_b' AND legacy_id = 1") ==
        "b refill 1");
  for (auto* run : {&run_a, &run_b}) {
    run->signal(SIGTERM);
    const auto r = run->wait();
    CAPTURE(r.err);
    CHECK(r.exit_code == 0);
  }
}
