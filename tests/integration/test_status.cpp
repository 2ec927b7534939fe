// `crmsync status`: asks the running daemon (copy progress during a multi-table copy, lag while
// streaming, --watch) and reads a stopped one's checkpoint.

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <csignal>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/pipeline.hpp"
#include "support/wait.hpp"

using namespace crmsync::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

json status_json(const PipelineFixture& p) {
  const auto r = p.crmsync({"status", "--json"});
  if (r.exit_code != 0) return json();
  try {
    return json::parse(r.out);
  } catch (const json::exception&) {
    return json();
  }
}

const json* table_of(const json& s, const std::string& name) {
  if (!s.is_object() || !s.contains("copy")) return nullptr;
  for (const auto& t : s["copy"]) {
    if (t["table"] == name) return &t;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("status: copy progress of a three-table copy, lag while streaming, --watch, a stopped daemon's checkpoint") {
  PipelineFixture p("status");
  for (const char* t : {"t1", "t2", "t3"}) {
    p.source.exec(
        fmt::format("CREATE TABLE public.{0} (id bigint PRIMARY KEY, v text); "
                    "INSERT INTO public.{0} SELECT g, 'v' || g FROM generate_series(1, {1}) g; ANALYZE public.{0};",
                    t, std::string(t) == "t2" ? 4000 : 5000));
    p.target.exec(fmt::format("CREATE TABLE public.{} (id bigint PRIMARY KEY, v text);", t));
  }
  // A real target's triggers make t2 slow to load (1 ms a row, ENABLE ALWAYS so that it fires under
  // session_replication_role = replica): its copy lasts seconds, long enough to be watched.
  p.target.exec(
      "CREATE FUNCTION public.slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.001); RETURN NEW; "
      "END $$; CREATE TRIGGER slow BEFORE INSERT ON public.t2 FOR EACH ROW EXECUTE FUNCTION public.slow(); "
      "ALTER TABLE public.t2 ENABLE ALWAYS TRIGGER slow;");
  p.write_config({"public.t1", "public.t2", "public.t3"}, "snapshot:\n  chunk_rows: 1000\n");
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  // The legacy CRM goes on writing while it is copied.
  auto writer_conn = p.source.connect();
  LoopThread writer([&](int i) {
    (void)writer_conn.exec(fmt::format("INSERT INTO public.t3 VALUES ({}, 'during')", 100000 + i));
    std::this_thread::sleep_for(20ms);
  });

  json during;
  const bool seen = wait_until(
      [&] {
        during = status_json(p);
        const auto* t2 = table_of(during, "public.t2");
        return during.is_object() && during["phase"] == "copying" && during["copy"].size() == 3 && t2 != nullptr &&
               (*t2)["done"] == false && (*t2)["chunks_done"].get<int>() >= 1;
      },
      60s);
  CAPTURE(during.dump());
  if (!seen) {
    run.signal(SIGTERM);
    const auto r = run.wait();
    FAIL("the copy was not seen in progress: " << r.err);
  }
  CHECK(during["daemon"]["running"] == true);
  const auto& t2 = *table_of(during, "public.t2");
  CHECK(t2["chunks_total"].get<int>() >= 4);
  CHECK(t2["rows_done"].get<std::int64_t>() >= 1000 * t2["chunks_done"].get<std::int64_t>());
  CHECK(t2["rows_done"].get<std::int64_t>() <= 4000);
  CHECK(t2["rows_total"] == 4000);  // the source's estimate (reltuples) until the table is done
  // The human view during the copy: the labelled lines, then a table with its columns.
  const auto human = p.crmsync({"status"});
  CAPTURE(human.out);
  CHECK(human.exit_code == 0);
  CHECK(human.out.find("pipeline it_pipeline: copying (daemon at ") != std::string::npos);
  std::istringstream lines(human.out);
  std::string header, row;
  std::vector<std::string> table_rows;
  for (std::string l; std::getline(lines, l);) {
    if (l.find("TABLE") != std::string::npos) header = l;
    if (!header.empty() && l.rfind("  public.", 0) == 0) table_rows.push_back(l);
  }
  std::istringstream columns(header);
  std::vector<std::string> names;
  for (std::string c; columns >> c;) names.push_back(c);
  CHECK(names == std::vector<std::string>{"TABLE", "PROGRESS", "ROWS", "CHUNKS", "RATE", "ETA"});
  REQUIRE(table_rows.size() == 3);
  for (const auto& l : table_rows) {
    CAPTURE(l);
    CHECK(l.find('[') == header.find("PROGRESS"));  // the bar sits in its column
    CHECK(l.find('%') != std::string::npos);
  }
  for (const auto* label : {"  ready ", "  lag ", "  positions ", "  slot ", "  dead letters ", "  last error "}) {
    CHECK(human.out.find(label) != std::string::npos);
  }

  REQUIRE(wait_until([&] { return streaming(p); }, 120s));
  writer.stop();
  const auto t3_rows = row_count(p.source, "public.t3");
  CHECK(t3_rows > 5000);
  REQUIRE(wait_until([&] { return row_count(p.target, "public.t3") == t3_rows; }, 30s));
  for (int i = 0; i < 10; ++i) {
    p.source.exec(fmt::format("INSERT INTO public.t1 VALUES ({}, 'new')", 10000 + i));
  }
  REQUIRE(wait_until([&] { return row_count(p.target, "public.t1") == 5010; }, 30s));
  json live;
  REQUIRE(wait_until(
      [&] {
        live = status_json(p);
        return live.is_object() && live["phase"] == "streaming" && live["totals"]["changes"].get<std::int64_t>() >= 10;
      },
      20s));
  CAPTURE(live.dump());
  CHECK(live["lag"]["seconds"].get<double>() < 5);
  CHECK(live["lag"]["bytes"].get<std::int64_t>() >= 0);
  CHECK(live["positions"]["applied"] != "0/0");
  CHECK(live["slot"]["found"] == true);
  CHECK(live["ready"]["ready"] == true);
  for (const auto* t : {"public.t1", "public.t2", "public.t3"}) {
    REQUIRE(table_of(live, t) != nullptr);
    CHECK((*table_of(live, t))["done"] == true);
  }
  CHECK((*table_of(live, "public.t2"))["rows_done"] == 4000);

  // --watch --json: one document per refresh until interrupted.
  {
    BackgroundProcess watch(
        {crmsync_binary(), "status", "--watch", "--json", "--interval", "0.3", "-c", p.config_path()});
    std::this_thread::sleep_for(2s);
    watch.signal(SIGINT);
    const auto w = watch.wait();
    CHECK(w.exit_code == 0);
    std::istringstream docs(w.out);
    int n = 0;
    for (std::string l; std::getline(docs, l); ++n) CHECK(json::parse(l)["phase"] == "streaming");
    CHECK(n >= 3);
  }

  run.signal(SIGTERM);
  const auto done = run.wait();
  CAPTURE(done.err);
  REQUIRE(done.exit_code == 0);
  // Stopped: the checkpoint (read-only), the slot on the source, the DLQ on the target.
  const auto stopped = status_json(p);
  CAPTURE(stopped.dump());
  REQUIRE(stopped.is_object());
  CHECK(stopped["daemon"]["running"] == false);
  CHECK(stopped["daemon"]["checkpoint_phase"] == "streaming");
  CHECK(stopped["phase"] == "stopped");
  CHECK(stopped["positions"]["confirmed"] != "0/0");
  CHECK(stopped["slot"]["found"] == true);
  CHECK(stopped["dead_letters"]["total"] == 0);
  REQUIRE(table_of(stopped, "public.t2") != nullptr);
  CHECK((*table_of(stopped, "public.t2"))["rows_done"] == 4000);
  CHECK((*table_of(stopped, "public.t3"))["done"] == true);
  const auto human_stopped = p.crmsync({"status"});
  CHECK(human_stopped.out.find("pipeline it_pipeline: stopped (daemon not running; checkpoint phase streaming)") !=
        std::string::npos);
}
