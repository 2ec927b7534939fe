// crmsync verify under live load (issue #12): the source is compared at a temporary slot's snapshot
// and the target at exactly the same source position, so a verify while the daemon streams a write
// workload finds no difference, however often it runs, and still finds one planted meanwhile. With
// the daemon stopped verify is exact when nothing waits in the slot, and refuses (rather than
// report changes in flight) when something does. A verify that dies while it holds the daemon does
// not stall it.

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/pipeline.hpp"
#include "support/process.hpp"
#include "support/wait.hpp"

using namespace crmsync::testing;
using namespace std::chrono_literals;

namespace {

const char* kSchema =
    "CREATE TABLE public.contacts (id bigint PRIMARY KEY, account int NOT NULL, email text, score float8, "
    "updated_at timestamptz);";

}  // namespace

TEST_CASE(
    "verify under live load: a 1M-row table verifies equal again and again while the daemon streams, and a "
    "difference planted meanwhile is found") {
  PipelineFixture p("verifylive");
  p.source.exec(kSchema);
  p.target.exec(kSchema);
  p.source.exec(
      "INSERT INTO public.contacts SELECT g, g % 5000, 'c' || g || '@example.com', g / 3.0, "
      "'2026-01-01'::timestamptz + g * interval '1 s' FROM generate_series(1, 1000000) g; ANALYZE");
  p.write_config({"public.contacts"}, "snapshot:\n  chunk_rows: 125000\n  parallel: 2\n");
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  REQUIRE(wait_until([&] { return !run.running() || streaming(p); }, 300s));
  REQUIRE(run.running());

  // A steady workload: each step one source transaction that updates a row, inserts one and
  // deletes an older insert; ids above 500000 and below 2000000 are never touched by it.
  std::atomic<int> committed{0};
  std::atomic<int> failed{0};
  auto conn = p.source.connect();
  LoopThread workload([&](int i) {
    const auto sql = fmt::format(
        "BEGIN; UPDATE public.contacts SET score = score + 1, updated_at = now() WHERE id = {0};"
        "INSERT INTO public.contacts VALUES ({1}, {2}, 'new{1}@example.com', {2}, now());"
        "DELETE FROM public.contacts WHERE id = {3}; COMMIT",
        (i * 7919L) % 500000 + 1, 2000000 + i, i % 5000, 2000000 + i - 20);
    if (conn.exec(sql)) {
      ++committed;
    } else {
      ++failed;
    }
    std::this_thread::sleep_for(1ms);
  });
  REQUIRE(wait_until([&] { return committed.load() > 200; }, 30s));

  for (int round = 0; round < 3; ++round) {
    const int before = committed.load();
    const auto r = p.crmsync({"verify", "--json"});
    CAPTURE(round);
    CAPTURE(r.err);
    REQUIRE_MESSAGE(r.exit_code == 0, r.out);
    const auto doc = nlohmann::json::parse(r.out);
    CHECK(doc["equal"] == true);
    CHECK(doc["exact"] == true);
    CHECK(doc["point"].get<std::string>().find("running daemon was held") != std::string::npos);
    CHECK(doc["tables"][0]["source_rows"].get<std::int64_t>() >= 1000000);
    CHECK(doc["tables"][0]["source_rows"] == doc["tables"][0]["target_rows"]);
    // Checksummed in key-range chunks inside both databases, at one position: every chunk equal,
    // no row transferred.
    CHECK(doc["tables"][0]["chunks"].get<std::int64_t>() > 10);
    CHECK(doc["tables"][0]["chunks_compared_by_row"] == 0);
    MESSAGE("verify of ", doc["tables"][0]["source_rows"].get<std::int64_t>(), " rows: ", doc["seconds"].get<double>(),
            " s, daemon held ", doc["hold_ms"].get<double>(), " ms, ", committed.load() - before,
            " source transactions meanwhile");
    CHECK(committed.load() > before);  // the workload went on during the verify
  }

  // Planted on the target while the workload runs: one changed value, one row gone.
  p.target.exec(
      "UPDATE public.contacts SET email = 'planted@example.com' WHERE id = 750000;"
      "DELETE FROM public.contacts WHERE id = 750001");
  const auto found = p.crmsync({"verify", "--json"});
  CAPTURE(found.err);
  CHECK(found.exit_code == 3);
  const auto doc = nlohmann::json::parse(found.out);
  const auto& t = doc["tables"][0];
  CHECK(t["different"] == 1);
  CHECK(t["missing"] == 1);
  CHECK(t["extra"] == 0);
  // Narrowed: only the chunks holding the two keys were compared row by row.
  CHECK(t["chunks_compared_by_row"].get<std::int64_t>() >= 1);
  CHECK(t["chunks_compared_by_row"].get<std::int64_t>() <= 2);
  CHECK(t["source_rows"].get<std::int64_t>() - t["target_rows"].get<std::int64_t>() == 1);
  std::vector<std::string> keys;
  for (const auto& k : t["keys"]) keys.push_back(k["kind"].get<std::string>() + " " + k["key"].get<std::string>());
  std::sort(keys.begin(), keys.end());
  CHECK(keys == std::vector<std::string>{"different \"id\" = '750000'", "missing \"id\" = '750001'"});

  workload.stop();
  CHECK(failed.load() == 0);
  // The holds cost the stream nothing: it catches up and stops cleanly.
  p.target.exec(
      "UPDATE public.contacts SET email = 'c750000@example.com' WHERE id = 750000;"
      "INSERT INTO public.contacts SELECT * FROM (VALUES (750001::bigint, 750001 % 5000, 'c750001@example.com', "
      "750001 / 3.0::float8, '2026-01-01'::timestamptz + 750001 * interval '1 s')) v");
  CHECK(wait_until([&] { return p.crmsync({"verify"}).exit_code == 0; }, 60s));
  run.signal(SIGTERM);
  const auto stopped = run.wait();
  CAPTURE(stopped.err);
  CHECK(stopped.exit_code == 0);
}

TEST_CASE("verify with the daemon stopped: exact when nothing waits in the slot, refuses while changes do") {
  PipelineFixture p("verifystopped");
  p.source.exec(kSchema);
  p.source.exec("CREATE TABLE public.audit (id serial PRIMARY KEY, what text)");  // not replicated
  p.target.exec(kSchema);
  p.source.exec("INSERT INTO public.contacts SELECT g, g, 'c' || g, g, now() FROM generate_series(1, 3000) g");
  p.write_config({"public.contacts"});
  const auto copied = p.crmsync({"run", "--stop-after-copy"});
  REQUIRE_MESSAGE(copied.exit_code == 0, copied.err);

  auto r = p.crmsync({"verify"});
  CAPTURE(r.out);
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("the daemon is stopped and the target holds every change before") != std::string::npos);

  // Writes to a table the pipeline does not replicate are not pending for it.
  p.source.exec("INSERT INTO public.audit (what) SELECT 'x' FROM generate_series(1, 100)");
  CHECK(p.crmsync({"verify"}).exit_code == 0);

  // A change the stopped daemon has not applied: comparing now would report it; verify says why not.
  p.source.exec("UPDATE public.contacts SET email = 'moved' WHERE id = 7");
  r = p.crmsync({"verify"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("1 source transaction(s) that committed before this verify's snapshot") != std::string::npos);
  CHECK(r.err.find("crmsync run") != std::string::npos);

  // Applied (the daemon ran and stopped again): exact and equal once more.
  {
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    REQUIRE(wait_until(
        [&] { return p.target.query_value("SELECT email FROM public.contacts WHERE id = 7") == "moved"; }, 60s));
    run.signal(SIGTERM);
    CHECK(run.wait().exit_code == 0);
  }
  r = p.crmsync({"verify"});
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
}

TEST_CASE("a verify that dies while it holds the daemon does not stall it") {
  PipelineFixture p("verifyhold");
  p.source.exec(kSchema);
  p.target.exec(kSchema);
  p.write_config({"public.contacts"});
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  REQUIRE(wait_until([&] { return !run.running() || streaming(p); }, 60s));
  REQUIRE(run.running());
  const auto arrived = [&](int id) {
    return p.target.query_value(fmt::format("SELECT count(*) FROM public.contacts WHERE id = {}", id)) == "1";
  };
  p.source.exec("INSERT INTO public.contacts VALUES (1, 1, 'a', 1, now())");
  REQUIRE(wait_until([&] { return arrived(1); }, 30s));
  {
    // What verify does first: ask for a hold from a session of its own...
    auto holder = p.target.connect();
    REQUIRE(
        holder.exec("INSERT INTO crmsync.holds (pipeline, holder) VALUES ('it_pipeline', pg_backend_pid()); "
                    "NOTIFY crmsync_hold"));
    REQUIRE(wait_until(
        [&] {
          return p.target.query_value(
                     "SELECT paused_lsn IS NOT NULL FROM crmsync.holds WHERE pipeline = 'it_pipeline'") == "t";
        },
        10s));
    // ...the daemon pauses: a source change waits...
    p.source.exec("INSERT INTO public.contacts VALUES (2, 1, 'b', 1, now())");
    std::this_thread::sleep_for(1500ms);
    CHECK_FALSE(arrived(2));
    CHECK(run.running());
  }  // ...and the holder's session ends without releasing it (verify killed).
  CHECK(wait_until([&] { return arrived(2); }, 10s));
  p.source.exec("INSERT INTO public.contacts VALUES (3, 1, 'c', 1, now())");
  CHECK(wait_until([&] { return arrived(3); }, 10s));
  run.signal(SIGTERM);
  CHECK(run.wait().exit_code == 0);
}
