// The long soak of issue #10, outside CI: CRMSYNC_SOAK_MINUTES (default 30) of a mixed legacy-CRM
// workload while crmsync copies and then follows, with, at random, kill -9 of crmsync, fast
// restarts of the source and of the target; on a schedule, ADD COLUMN ... DEFAULT on the source,
// nightly TRUNCATE and refill of a table copied in several chunks, and once a table rename that
// stops the stream cleanly and is resumed after the config follows. It ends when every table is
// equal by checksum (or fails), and prints a summary (tests/soak/RESULTS.md keeps the last one).

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

#include "support/pipeline.hpp"
#include "support/wait.hpp"

using namespace crmsync::testing;
using namespace std::chrono_literals;

namespace {

constexpr int kPlain = 4;  // public.t00 .. t03
constexpr int kSeedRows = 40000;

std::string schema() {
  std::string ddl;
  for (int i = 0; i < kPlain; ++i) {
    ddl += fmt::format("CREATE TABLE public.t{:02} (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0, body text);", i);
  }
  ddl +=
      "CREATE TABLE public.accounts (id bigint PRIMARY KEY, name text NOT NULL);"
      "CREATE TABLE public.contacts (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES public.accounts, "
      "n int NOT NULL DEFAULT 0, big text);"
      "ALTER TABLE public.contacts ALTER COLUMN big SET STORAGE EXTERNAL;"
      "CREATE TABLE public.staging (id int PRIMARY KEY, v text);"
      "CREATE TABLE public.notes (id bigint PRIMARY KEY, body text);";
  return ddl;
}

struct Workload {
  std::mutex mutex;
  std::string notes = "public.notes";  // renamed once, mid-soak
  std::atomic<int> done{0};
  std::atomic<int> failed{0};

  std::string step(int i) {
    const int t = i % kPlain;
    const int row = 1 + (i * 7919) % kSeedRows;
    switch (i % 10) {
      case 0: return fmt::format("INSERT INTO public.t{:02} (id, n, body) VALUES ({}, 1, 'new')", t, 1000000 + i);
      case 1: return fmt::format("UPDATE public.t{:02} SET n = n + 1, body = body || '+' WHERE id = {}", t, row);
      case 2: return fmt::format("DELETE FROM public.t{:02} WHERE id = {}", t, 1 + (i * 104729) % kSeedRows);
      case 3: return fmt::format("UPDATE public.t{:02} SET id = id + 50000000 WHERE id = {}", t, row);
      case 4: return fmt::format("UPDATE public.contacts SET n = n + 1 WHERE id = {}", 1 + (i * 31) % 3000);
      case 5:
        return fmt::format(
            "BEGIN; INSERT INTO public.accounts VALUES ({0}, 'new {0}'); INSERT INTO public.contacts VALUES ({0}, {0}, "
            "0, repeat(md5('{0}'), 100)); COMMIT",
            1000000 + i);
      case 6:
        if (i % 500 == 6) {  // the nightly job
          return fmt::format(
              "BEGIN; TRUNCATE public.staging; INSERT INTO public.staging SELECT g, 'batch {}' FROM "
              "generate_series(1, 6000) g; COMMIT",
              i);
        }
        return fmt::format("UPDATE public.staging SET v = v || '.' WHERE id = {}", 1 + i % 6000);
      case 7: {
        std::lock_guard lock(mutex);
        return fmt::format("INSERT INTO {} VALUES ({}, 'note {}') ON CONFLICT DO NOTHING", notes, 1000000 + i, i);
      }
      case 8: {
        std::lock_guard lock(mutex);
        return fmt::format("UPDATE {} SET body = body || '.' WHERE id = {}", notes, 1 + i % 2000);
      }
      default: return fmt::format("UPDATE public.accounts SET name = name || '.' WHERE id = {}", 1 + i % 3000);
    }
  }
};

std::vector<std::string> tables(const std::string& notes) {
  std::vector<std::string> out;
  for (int i = 0; i < kPlain; ++i) out.push_back(fmt::format("public.t{:02}", i));
  for (const auto* t : {"public.accounts", "public.contacts", "public.staging"}) out.emplace_back(t);
  out.push_back(notes);
  return out;
}

bool all_equal(const PipelineFixture& p, const std::string& notes) {
  try {
    for (const auto& t : tables("public.notes")) {
      const auto& source = t == "public.notes" ? notes : t;
      if (table_checksum(p.target, t, "id") != table_checksum(p.source, source, "id")) return false;
    }
    return true;
  } catch (const std::exception&) {
    return false;  // a server restarting
  }
}

void write_config(const PipelineFixture& p, const std::string& notes) {
  std::string extra = "snapshot:\n  chunk_rows: 1500\n  parallel: 2\napply:\n  max_batch_delay_ms: 10\n";
  if (notes != "public.notes") extra += fmt::format("mappings:\n  - from: {}\n    to: public.notes\n", notes);
  p.write_config(tables(notes), extra);
}

bool restart(const PgCluster& c) {
  return run_process({script_path("pg-cluster"), "restart", c.name(), std::to_string(c.port())}).exit_code == 0;
}

}  // namespace

TEST_CASE("soak: a long mixed CRM workload with schema changes, a rename, TRUNCATEs, restarts and kill -9s") {
  const char* env = std::getenv("CRMSYNC_SOAK_MINUTES");
  const auto minutes = std::chrono::minutes(env != nullptr ? std::atoi(env) : 30);
  PipelineFixture p("soak-long");
  p.source.exec(schema());
  p.target.exec(schema());
  std::string seed;
  for (int i = 0; i < kPlain; ++i) {
    seed += fmt::format("INSERT INTO public.t{:02} SELECT g, g % 5, md5(g::text) FROM generate_series(1, {}) g;", i,
                        kSeedRows);
  }
  seed +=
      "INSERT INTO public.accounts SELECT g, 'acct ' || g FROM generate_series(1, 3000) g;"
      "INSERT INTO public.contacts SELECT g, g, 0, repeat(md5(g::text), 100) FROM generate_series(1, 3000) g;"
      "INSERT INTO public.staging SELECT g, 'seed' FROM generate_series(1, 6000) g;"
      "INSERT INTO public.notes SELECT g, 'note' FROM generate_series(1, 2000) g; ANALYZE;";
  p.source.exec(seed);
  write_config(p, "public.notes");

  Workload work;
  LoopThread writer([&](int i) {
    try {
      p.source.exec(work.step(i));
      ++work.done;
    } catch (const std::exception&) {
      ++work.failed;  // the source restarting, or a step racing the rename: not applied anywhere
      std::this_thread::sleep_for(100ms);
    }
    std::this_thread::sleep_for(3ms);
  });

  std::mt19937 rng(std::random_device{}());
  const auto started = std::chrono::steady_clock::now();
  const auto elapsed = [&] { return std::chrono::steady_clock::now() - started; };
  int kills = 0, source_restarts = 0, target_restarts = 0, columns_added = 0, stops = 0, rounds = 0;
  bool renamed = false;
  while (elapsed() < minutes) {
    ++rounds;
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    const auto round_end = std::chrono::steady_clock::now() +
                           std::chrono::seconds(std::uniform_int_distribution<int>(rounds <= 3 ? 2 : 20, 60)(rng));
    while (std::chrono::steady_clock::now() < round_end && run.running()) {
      std::this_thread::sleep_for(1s);
      const auto at = elapsed();
      if (!renamed && at > minutes * 2 / 5) {
        renamed = true;
        std::lock_guard lock(work.mutex);
        p.source.exec("ALTER TABLE public.notes RENAME TO notes_v2");
        work.notes = "public.notes_v2";
      }
      if (columns_added < 5 && at > minutes * (columns_added + 1) / 6) {
        ++columns_added;
        p.source.exec(fmt::format("ALTER TABLE public.t02 ADD COLUMN c{0} text DEFAULT 'default {0}'", columns_added));
      }
    }
    if (!run.running()) {
      // The only stop the soak expects: the rename, until the config follows it.
      const auto r = run.wait();
      ++stops;
      REQUIRE_MESSAGE(r.exit_code == 65, r.err);
      REQUIRE_MESSAGE(r.err.find("was renamed to public.notes_v2") != std::string::npos, r.err);
      write_config(p, "public.notes_v2");
      continue;
    }
    switch (std::uniform_int_distribution<int>(0, 3)(rng)) {
      case 0:
      case 1:
        run.signal(SIGKILL);
        (void)run.wait();
        ++kills;
        break;
      case 2:
        REQUIRE(restart(p.source));
        ++source_restarts;
        break;
      default:
        REQUIRE(restart(p.target));
        ++target_restarts;
        break;
    }
    if (run.running()) {
      run.signal(SIGKILL);
      (void)run.wait();
      ++kills;
    }
  }
  writer.stop();
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  const auto notes = renamed ? std::string("public.notes_v2") : std::string("public.notes");
  const bool equal = wait_until([&] { return all_equal(p, notes); }, 600s);
  run.signal(SIGTERM);
  const auto r = run.wait();
  CAPTURE(r.err);
  CHECK(equal);
  CHECK(r.exit_code == 0);
  CHECK(renamed);
  CHECK(stops == 1);
  CHECK(p.target.query_value("SELECT count(*) FROM public.t02 WHERE c1 = 'default 1'") != "0");
  fmt::print(
      "soak summary: {} min, {} rounds, {} kill -9, {} source restarts, {} target restarts, {} ADD COLUMN ... "
      "DEFAULT, 1 table rename (stopped {} time(s), resumed after the config change), {} source transactions ({} "
      "refused while a server restarted), {} rows in the largest table; every table equal: {}\n",
      std::chrono::duration_cast<std::chrono::minutes>(elapsed()).count(), rounds, kills, source_restarts,
      target_restarts, columns_added, stops, work.done.load(), work.failed.load(), row_count(p.source, "public.t00"),
      equal ? "yes" : "NO");
}
