// A mapping's `where` (issue #11): pushed to the source as a publication row filter and into the
// copy's query, so filtered rows never leave it in either phase; an UPDATE moving a row out of the
// filter deletes it on the target, one moving in inserts it (with its TOASTed values); the filter
// may not change under a running migration, and one PostgreSQL would enforce against the legacy
// CRM's own UPDATEs is refused before the publication exists.

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

constexpr int kDeals = 6000;

std::string digest(const PgCluster& c, const std::string& select) {
  return c.query_value(fmt::format("SELECT md5(coalesce(string_agg(r::text, '|'), '')) FROM ({}) r", select));
}

std::string config(const std::string& deals_where) {
  return fmt::format(
      "snapshot:\n  chunk_rows: 1000\n  parallel: 2\napply:\n  max_batch_delay_ms: 10\nmappings:\n"
      "  - from: public.deals\n    where: \"{}\"\n    columns:\n      stage: {{transform: upper}}\n"
      "  - from: public.accounts\n    where: \"id % 2 = 0\"\n",
      deals_where);
}

}  // namespace

TEST_CASE(
    "where: filtered rows stay on the source in the copy and the stream, an UPDATE out of the filter deletes and one "
    "into it inserts, and a where changed mid-migration is refused") {
  PipelineFixture p("where");
  const char* schema =
      "CREATE TABLE public.deals (id bigint PRIMARY KEY, stage text NOT NULL, amount int, note text);"
      "CREATE TABLE public.accounts (id bigint PRIMARY KEY, region text);";
  p.source.exec(schema);
  p.source.exec("ALTER TABLE public.deals REPLICA IDENTITY FULL");  // the filter reads stage
  p.target.exec(schema);
  p.source.exec(fmt::format(
      "INSERT INTO public.deals SELECT g, (ARRAY['open','won','lost'])[g % 3 + 1], g, md5(g::text) FROM "
      "generate_series(1, {0}) g; INSERT INTO public.accounts SELECT g, 'r' || g FROM generate_series(1, 3000) g; "
      "ANALYZE",
      kDeals));
  p.write_config({"public.deals", "public.accounts"}, config("stage <> 'lost'"));
  // The legacy CRM keeps writing from the first second of the copy: stages flip across the filter,
  // new deals arrive, accounts move out of theirs.
  auto conn = p.source.connect();
  LoopThread workload([&](int i) {
    (void)conn.exec(fmt::format(
        "UPDATE public.deals SET stage = CASE stage WHEN 'lost' THEN 'won' WHEN 'won' THEN 'lost' ELSE 'open' END "
        "WHERE id = {0}; INSERT INTO public.deals VALUES ({1}, (ARRAY['open','won','lost'])[{1} % 3 + 1], {1}, 'n'); "
        "UPDATE public.accounts SET id = id + 1000001 WHERE id = {2}; INSERT INTO public.accounts VALUES ({3}, 'new')",
        (i * 7919) % kDeals + 1, 100000 + i, 2 * (i % 1500) + 2, 2000000 + i));
    std::this_thread::sleep_for(3ms);
  });
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  REQUIRE(wait_until(
      [&] {
        return p.target.query_value("SELECT to_regclass('crmsync.apply_progress') IS NOT NULL") == "t" &&
               p.target.query_value("SELECT count(*) FROM crmsync.apply_progress") != "0";
      },
      120s));
  std::this_thread::sleep_for(1s);
  workload.stop();
  // Moves across the filter, with a value TOASTed out of line that a moved-in row must carry.
  const auto long_note = "(SELECT string_agg(md5(k::text), '') FROM generate_series(1, 300) k)";
  p.source.exec(fmt::format(
      "INSERT INTO public.deals VALUES (50001, 'open', 1, {0}), (50002, 'lost', 2, {0}), (50003, 'lost', 3, 'x')",
      long_note));
  p.source.exec("UPDATE public.deals SET stage = 'lost' WHERE id = 50001");  // out: deleted on the target
  p.source.exec("UPDATE public.deals SET stage = 'won' WHERE id = 50002");   // in: inserted, note and all
  p.source.exec("DELETE FROM public.deals WHERE id = 50003");                // never there: nothing to do
  const auto want_deals = [&] {
    return digest(p.source,
                  "SELECT id, upper(stage), amount, note FROM public.deals WHERE stage <> 'lost' ORDER BY id");
  };
  const auto have_deals = [&] {
    return digest(p.target, "SELECT id, stage, amount, note FROM public.deals ORDER BY id");
  };
  const auto want_accounts = [&] {
    return digest(p.source, "SELECT id, region FROM public.accounts WHERE id % 2 = 0 ORDER BY id");
  };
  const auto have_accounts = [&] { return digest(p.target, "SELECT id, region FROM public.accounts ORDER BY id"); };
  CHECK(wait_until([&] { return have_deals() == want_deals() && have_accounts() == want_accounts(); }, 60s));
  CHECK(p.target.query_value("SELECT count(*) FROM public.deals WHERE stage = 'LOST'") == "0");
  CHECK(p.target.query_value("SELECT count(*) FROM public.deals WHERE id = 50001") == "0");
  CHECK(p.target.query_value("SELECT length(note) FROM public.deals WHERE id = 50002") == "9600");
  CHECK(p.target.query_value("SELECT count(*) FROM public.accounts WHERE id % 2 = 1") == "0");
  // Filtered rows were really out: the target has fewer rows than the source.
  CHECK(row_count(p.target, "public.deals") < row_count(p.source, "public.deals"));
  run.signal(SIGTERM);
  REQUIRE(run.wait().exit_code == 0);

  // The config's where edited mid-migration: refused by run and reported by check.
  p.write_config({"public.deals", "public.accounts"}, config("stage <> 'won'"));
  {
    const auto refused = p.crmsync({"run"});
    CAPTURE(refused.err);
    CHECK(refused.exit_code == 65);
    CHECK(refused.err.find("the where of public.deals was (stage <> 'lost') when the copy began and is (stage <> "
                           "'won') in the config now") != std::string::npos);
    const auto checked = p.crmsync({"check"});
    CAPTURE(checked.out);
    CHECK(checked.exit_code != 0);
    CHECK(checked.out.find("the where of public.deals was (stage <> 'lost')") != std::string::npos);
  }
  // The publication's filter edited by hand: refused too.
  p.write_config({"public.deals", "public.accounts"}, config("stage <> 'lost'"));
  p.source.exec(
      "ALTER PUBLICATION crmsync_it_pipeline SET TABLE public.deals WHERE (stage <> 'won'), public.accounts WHERE (id "
      "% 2 = 0)");
  {
    const auto refused = p.crmsync({"run"});
    CHECK(refused.exit_code == 65);
    CAPTURE(refused.err);
    CHECK(refused.err.find("the publication's row filter on public.deals was") != std::string::npos);
  }
  // Put back as it was: the pipeline goes on.
  p.source.exec(
      "ALTER PUBLICATION crmsync_it_pipeline SET TABLE public.deals WHERE (stage <> 'lost'), public.accounts WHERE (id "
      "% 2 = 0)");
  BackgroundProcess again({crmsync_binary(), "run", "-c", p.config_path()});
  p.source.exec("INSERT INTO public.deals VALUES (60000, 'open', 6, 'after'), (60001, 'lost', 7, 'after')");
  CHECK(wait_until([&] { return have_deals() == want_deals(); }, 60s));
  again.signal(SIGTERM);
  const auto r = again.wait();
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
}

TEST_CASE(
    "where: a filter reading a column outside the replica identity is refused before the publication exists, and the "
    "source's own updates go on") {
  PipelineFixture p("where-identity");
  p.source.exec("CREATE TABLE public.contacts (id bigint PRIMARY KEY, status text)");
  p.target.exec("CREATE TABLE public.contacts (id bigint PRIMARY KEY, status text)");
  p.source.exec("INSERT INTO public.contacts SELECT g, 'active' FROM generate_series(1, 100) g");
  p.write_config({"public.contacts"}, "mappings:\n  - from: public.contacts\n    where: \"status = 'active'\"\n");
  const auto r = p.crmsync({"run"});
  CAPTURE(r.err);
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("the where of public.contacts reads status, which is not in its replica identity: PostgreSQL "
                   "would refuse every UPDATE and DELETE of that table on the source") != std::string::npos);
  CHECK(p.source.query_value("SELECT count(*) FROM pg_publication") == "0");
  p.source.exec("UPDATE public.contacts SET status = 'gone' WHERE id = 1");  // would fail under such a publication
  CHECK(row_count(p.target, "public.contacts") == 0);
  // A where that is not a condition on the table: check names it.
  p.write_config({"public.contacts"}, "mappings:\n  - from: public.contacts\n    where: \"no_such_column > 1\"\n");
  const auto checked = p.crmsync({"check"});
  CHECK(checked.exit_code != 0);
  CHECK(checked.out.find("\"no_such_column > 1\" is not a condition on that table") != std::string::npos);
  // A publication made by hand with another filter than the config's where: refused before the
  // copy, which would otherwise follow the publication's.
  p.source.exec("CREATE PUBLICATION crmsync_it_pipeline FOR TABLE public.contacts WHERE (id > 50)");
  p.write_config({"public.contacts"}, "mappings:\n  - from: public.contacts\n    where: \"id > 10\"\n");
  const auto other = p.crmsync({"run"});
  CAPTURE(other.err);
  CHECK(other.exit_code == 65);
  CHECK(other.err.find("publication \"crmsync_it_pipeline\" filters public.contacts by (id > 50) but its mapping's "
                       "where is (id > 10)") != std::string::npos);
  CHECK(row_count(p.target, "public.contacts") == 0);
  CHECK(p.source.query_value("SELECT count(*) FROM pg_publication") == "1");  // the scratch one rolled back
}
