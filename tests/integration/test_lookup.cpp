// Lookups (issue #11): a legacy foreign key becomes the new CRM's id of its parent, resolved
// against the target. Parents are copied before their children, whichever worker takes them; in
// the stream a parent written in the same batch is found; a parent that is not there makes the
// child a dead letter (never a NULL), which `dlq retry` applies once the parent exists.

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/pipeline.hpp"
#include "support/wait.hpp"

using namespace crmsync::testing;
using namespace std::chrono_literals;

namespace {

std::string digest(const PgCluster& c, const std::string& select) {
  return c.query_value(fmt::format("SELECT md5(coalesce(string_agg(r::text, '|'), '')) FROM ({}) r", select));
}

// Each person's parent, by legacy ids: what the target's company_id points at, against what the
// source's account_id says (only contacts whose account exists).
std::string target_links(const PgCluster& t) {
  return digest(t,
                "SELECT p.legacy_id, c.legacy_id FROM crm.people p JOIN crm.companies c ON c.id = p.company_id ORDER "
                "BY 1");
}
std::string source_links(const PgCluster& s) {
  return digest(s,
                "SELECT id, account_id FROM public.contacts WHERE account_id IN (SELECT id FROM public.accounts) "
                "ORDER BY 1");
}

}  // namespace

TEST_CASE(
    "lookup: foreign keys become the new CRM's ids in the copy and the stream, a missing parent is a dead letter, "
    "and dlq retry applies it once the parent exists") {
  PipelineFixture p("lookup");
  p.source.exec(
      "CREATE TABLE public.accounts (id bigint PRIMARY KEY, name text);"
      "CREATE TABLE public.contacts (id bigint PRIMARY KEY, account_id bigint, email text);"
      "INSERT INTO public.accounts SELECT g, 'account ' || g FROM generate_series(1, 3000) g;"
      "INSERT INTO public.contacts SELECT g, CASE WHEN g % 1000 = 0 THEN 99999 ELSE g % 3000 + 1 END, 'p' || g || "
      "'@x.io' FROM generate_series(1, 6000) g; ANALYZE");
  // The new CRM numbers its own rows, far from the legacy ids.
  p.target.exec(
      "CREATE SCHEMA crm;"
      "CREATE TABLE crm.companies (id bigint GENERATED ALWAYS AS IDENTITY (START WITH 500000) PRIMARY KEY, legacy_id "
      "bigint UNIQUE NOT NULL, name text);"
      "CREATE TABLE crm.people (id bigint GENERATED ALWAYS AS IDENTITY (START WITH 900000) PRIMARY KEY, legacy_id "
      "bigint UNIQUE NOT NULL, company_id bigint REFERENCES crm.companies (id), email text)");
  p.write_config({"public.contacts", "public.accounts"},
                 "snapshot:\n  chunk_rows: 1000\n  parallel: 2\napply:\n  max_batch_delay_ms: 10\nmappings:\n"
                 "  - from: public.accounts\n    to: crm.companies\n    columns:\n      id: legacy_id\n"
                 "  - from: public.contacts\n    to: crm.people\n    columns:\n      id: legacy_id\n      account_id:\n"
                 "        to: company_id\n        lookup: {table: crm.companies, match: legacy_id, take: id}\n");
  {
    const auto checked = p.crmsync({"check"});
    CAPTURE(checked.out);
    CHECK(checked.exit_code == 0);
    CHECK(checked.out.find("lookup public.contacts.account_id") != std::string::npos);
  }
  // The legacy CRM keeps writing from the first second of the copy: new accounts with their first
  // contact in one transaction, and contacts (never the orphans) moved to another account.
  auto conn = p.source.connect();
  std::atomic<int> written{0};
  LoopThread workload([&](int i) {
    if (conn.exec(fmt::format("BEGIN; INSERT INTO public.accounts VALUES ({0}, 'live'); INSERT INTO public.contacts "
                              "VALUES ({1}, {0}, 'live@x.io'); UPDATE public.contacts SET account_id = {0} WHERE id = "
                              "{2}; COMMIT",
                              10000 + i, 20000 + i, 1 + (i * 37) % 999))) {
      written.fetch_add(1);
    }
    std::this_thread::sleep_for(3ms);
  });
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  REQUIRE(wait_until(
      [&] {
        return p.target.query_value("SELECT to_regclass('crmsync.apply_progress') IS NOT NULL") == "t" &&
               p.target.query_value("SELECT count(*) FROM crmsync.apply_progress") != "0";
      },
      120s));
  workload.stop();
  REQUIRE(written.load() > 0);
  // Six contacts point at an account that does not exist: letters, not rows with a NULL parent.
  const auto with_parent = [&] {
    return std::stoll(p.source.query_value(
        "SELECT count(*) FROM public.contacts WHERE account_id IN (SELECT id FROM public.accounts)"));
  };
  REQUIRE(wait_until([&] { return target_links(p.target) == source_links(p.source); }, 90s));
  CHECK(row_count(p.target, "crm.people") == with_parent());
  CHECK(row_count(p.target, "crm.people") + 6 == row_count(p.source, "public.contacts"));
  CHECK(p.target.query_value("SELECT count(*) FROM crm.people WHERE company_id IS NULL") == "0");
  CHECK(p.target.query_value("SELECT count(*) FROM crm.people p JOIN crm.companies c ON c.id = p.company_id WHERE "
                             "p.company_id = c.legacy_id") == "0");  // really remapped
  // The stream: a parent and its child in one transaction, a child moved to that parent, and an
  // orphan.
  p.source.exec(
      "BEGIN; INSERT INTO public.accounts VALUES (5000, 'new'); INSERT INTO public.contacts VALUES (7000, 5000, "
      "'n@x.io'); UPDATE public.contacts SET account_id = 5000 WHERE id = 1; COMMIT");
  p.source.exec("INSERT INTO public.contacts VALUES (7001, 88888, 'orphan@x.io')");
  CHECK(wait_until([&] { return target_links(p.target) == source_links(p.source); }, 60s));
  CHECK(p.target.query_value("SELECT c.legacy_id FROM crm.people p JOIN crm.companies c ON c.id = p.company_id WHERE "
                             "p.legacy_id = 7000") == "5000");
  p.source.exec("INSERT INTO public.contacts VALUES (7002, 1, 'last@x.io')");  // the orphan is behind us
  REQUIRE(wait_until([&] { return row_count(p.target, "crm.people") == with_parent(); }, 60s));
  const auto letters = nlohmann::json::parse(p.crmsync({"dlq", "list", "--json"}).out);
  REQUIRE(letters.size() == 7);
  for (const auto& l : letters) {
    CHECK(l["rule"] == "lookup");
    CHECK(l["column"] == "account_id");
  }
  CHECK(letters[0]["reason"] == "no crm.companies row has legacy_id = '99999' (its parent is not in the new CRM)");
  // The parents arrive; with the daemon stopped, the letters are retried through the lookups.
  p.source.exec("INSERT INTO public.accounts VALUES (99999, 'late'), (88888, 'late')");
  REQUIRE(
      wait_until([&] { return row_count(p.target, "crm.companies") == row_count(p.source, "public.accounts"); }, 60s));
  run.signal(SIGTERM);
  REQUIRE(run.wait().exit_code == 0);
  const auto retried = p.crmsync({"dlq", "retry", "all"});
  CAPTURE(retried.err);
  CHECK(retried.exit_code == 0);
  CHECK(retried.out == "applied 7 dead letter(s); 0 left (see crmsync dlq list)\n");
  CHECK(row_count(p.target, "crm.people") == row_count(p.source, "public.contacts"));
  CHECK(target_links(p.target) == source_links(p.source));
  // A lookup into the table its own mapping writes has no parents-first order: refused.
  p.write_config({"public.contacts", "public.accounts"},
                 "mappings:\n  - from: public.accounts\n    to: crm.companies\n    columns:\n      id: legacy_id\n"
                 "  - from: public.contacts\n    to: crm.people\n    columns:\n      id: legacy_id\n      account_id:\n"
                 "        to: company_id\n        lookup: {table: crm.people, match: legacy_id, take: id}\n");
  const auto self = p.crmsync({"check"});
  CHECK(self.exit_code == 1);
  CHECK(self.out.find("a lookup within one table is not supported") != std::string::npos);
}
