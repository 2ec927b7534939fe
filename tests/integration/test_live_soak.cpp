// The acceptance run of issue #9: copy-then-follow of eleven tables while the legacy application
// writes from the first second of the copy (inserts, updates, deletes, key changes, updates that
// leave a TOASTed value unchanged, a nightly TRUNCATE and refill, one ALTER TABLE ... ADD COLUMN),
// into a new-CRM schema with foreign keys, a trigger and an identity key, with kill -9 at random
// moments (at least three of them during the copy). Every table must end equal by checksum, and
// the target's server log must show no duplicate-key error.

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "support/pipeline.hpp"
#include "support/wait.hpp"

using namespace crmsync::testing;
using namespace std::chrono_literals;

namespace {

constexpr int kPlain = 7;  // public.t00 .. t06
constexpr int kSeedRows = 40000;

std::vector<std::pair<std::string, std::string>> soak_tables() {
  std::vector<std::pair<std::string, std::string>> out;  // table, ORDER BY
  for (int i = 0; i < kPlain; ++i) out.emplace_back(fmt::format("public.t{:02}", i), "id");
  out.emplace_back("public.accounts", "id");
  out.emplace_back("public.contacts", "id");
  out.emplace_back("public.deals", "id");
  out.emplace_back("public.staging", "id");
  return out;
}

std::string schema(bool target) {
  std::string ddl;
  for (int i = 0; i < kPlain; ++i) {
    ddl += fmt::format("CREATE TABLE public.t{:02} (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0, body text);", i);
  }
  ddl += "CREATE TABLE public.accounts (id bigint PRIMARY KEY, name text NOT NULL);";
  ddl +=
      "CREATE TABLE public.contacts (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES public.accounts, "
      "n int NOT NULL DEFAULT 0, big text);"
      "ALTER TABLE public.contacts ALTER COLUMN big SET STORAGE EXTERNAL;";
  ddl += target ? "CREATE TABLE public.deals (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, amount int);"
                : "CREATE TABLE public.deals (id bigint PRIMARY KEY, amount int);";
  ddl += "CREATE TABLE public.staging (id int PRIMARY KEY, v text);";
  if (target) {
    // The new CRM's own validation trigger: replicated rows must not fire it.
    ddl +=
        "CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN RAISE EXCEPTION 'application trigger fired'; END$$;"
        "CREATE TRIGGER refuse BEFORE INSERT OR UPDATE OR DELETE ON public.contacts FOR EACH ROW EXECUTE FUNCTION "
        "public.refuse();";
  }
  return ddl;
}

// One source transaction per step, of every kind the issue names.
std::string workload_step(int i) {
  const int t = i % kPlain;
  const int row = 1 + (i * 7919) % kSeedRows;
  switch (i % 10) {
    case 0: return fmt::format("INSERT INTO public.t{:02} (id, n, body) VALUES ({}, 1, 'new')", t, 1000000 + i);
    case 1:
      if (t == 1 && i > 409) {  // after the ALTER: the new column gets values
        return fmt::format("UPDATE public.t01 SET n = n + 1, extra = 'x{}' WHERE id = {}", i, row);
      }
      return fmt::format("UPDATE public.t{:02} SET n = n + 1, body = body || '+' WHERE id = {}", t, row);
    case 2: return fmt::format("DELETE FROM public.t{:02} WHERE id = {}", t, 1 + (i * 104729) % kSeedRows);
    case 3:  // a key change, into a range no other step touches
      return fmt::format("UPDATE public.t{:02} SET id = id + 50000000 WHERE id = {}", t, row);
    case 4:  // the TOASTed column is not sent: it must stay as it is
      return fmt::format("UPDATE public.contacts SET n = n + 1 WHERE id = {}", 1 + (i * 31) % 3000);
    case 5:
      return fmt::format(
          "BEGIN; INSERT INTO public.accounts VALUES ({0}, 'new {0}'); INSERT INTO public.contacts "
          "VALUES ({0}, {0}, 0, repeat(md5('{0}'), 100)); COMMIT",
          1000000 + i);
    case 6:
      if (i % 60 == 6) {
        return fmt::format(
            "BEGIN; TRUNCATE public.staging; INSERT INTO public.staging SELECT g, 'batch {}' FROM "
            "generate_series(1, 400) g; COMMIT",
            i);
      }
      return fmt::format("UPDATE public.staging SET v = v || '.' WHERE id = {}", 1 + i % 400);
    case 7: return fmt::format("INSERT INTO public.deals VALUES ({}, {})", 1000000 + i, i);
    case 8: return fmt::format("UPDATE public.deals SET amount = amount + 1 WHERE id = {}", 1 + i % 2000);
    default:
      if (i == 409) return "ALTER TABLE public.t01 ADD COLUMN extra text";
      return fmt::format("UPDATE public.accounts SET name = name || '.' WHERE id = {}", 1 + i % 3000);
  }
}

bool all_equal(const PipelineFixture& p) {
  for (const auto& [table, order] : soak_tables()) {
    if (table_checksum(p.target, table, order) != table_checksum(p.source, table, order)) return false;
  }
  return true;
}

// For a failure: each table that differs, with its row counts on both sides and the first rows
// that differ (as text on each side), so that a rare failure can be diagnosed from its log.
std::string differing_tables(const PipelineFixture& p) {
  std::string out;
  const auto rows = [](const PgCluster& c, const std::string& table) {
    return c.query_value(fmt::format("SELECT string_agg(t::text, E'\\n' ORDER BY id) FROM {} t", table));
  };
  const auto split = [](const std::string& text) {
    std::map<std::string, std::string> by_id;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) by_id[line.substr(1, line.find(',') - 1)] = line.substr(0, 300);
    return by_id;
  };
  for (const auto& [table, order] : soak_tables()) {
    if (table_checksum(p.target, table, order) == table_checksum(p.source, table, order)) continue;
    out += fmt::format("{} (source {} rows, target {} rows):", table, row_count(p.source, table),
                       row_count(p.target, table));
    auto source = split(rows(p.source, table));
    auto target = split(rows(p.target, table));
    int shown = 0;
    for (const auto& [id, line] : source) {
      const auto it = target.find(id);
      if (it != target.end() && it->second == line) continue;
      if (++shown > 5) break;
      out += fmt::format("\n  source {}\n  target {}", line, it == target.end() ? "(missing)" : it->second);
    }
    for (const auto& [id, line] : target) {
      if (source.contains(id) || ++shown > 8) continue;
      out += fmt::format("\n  source (missing)\n  target {}", line);
    }
    out += "\n";
  }
  return out;
}

std::string server_log(const PgCluster& c) {
  const auto data = c.query_value("SELECT current_setting('data_directory')");
  std::ifstream in(data.substr(0, data.rfind('/')) + "/server.log");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("live soak: eleven tables written from the first second of the copy, ten kill -9s, every table equal") {
  PipelineFixture p("soak");
  p.source.exec(schema(false));
  p.target.exec(schema(true));
  std::string seed;
  for (int i = 0; i < kPlain; ++i) {
    seed += fmt::format("INSERT INTO public.t{:02} SELECT g, g % 5, md5(g::text) FROM generate_series(1, {}) g;", i,
                        kSeedRows);
  }
  seed +=
      "INSERT INTO public.accounts SELECT g, 'acct ' || g FROM generate_series(1, 3000) g;"
      "INSERT INTO public.contacts SELECT g, g, 0, repeat(md5(g::text), 100) FROM generate_series(1, 3000) g;"
      "INSERT INTO public.deals SELECT g, g FROM generate_series(1, 2000) g;"
      "INSERT INTO public.staging SELECT g, 'seed' FROM generate_series(1, 400) g; ANALYZE;";
  p.source.exec(seed);
  std::vector<std::string> tables;
  for (const auto& [table, _] : soak_tables()) tables.push_back(table);
  p.write_config(tables, "snapshot:\n  chunk_rows: 1500\n  parallel: 2\napply:\n  max_batch_delay_ms: 10\n");

  std::atomic<int> failed_steps{0};
  std::string last_failure;
  auto conn = p.source.connect();
  LoopThread workload([&](int i) {
    if (auto done = conn.exec(workload_step(i)); !done) {
      if (failed_steps.fetch_add(1) == 0) last_failure = done.error().message;
    }
    std::this_thread::sleep_for(2ms);
  });

  std::mt19937 rng(std::random_device{}());
  auto copied_chunks = [&] {
    return p.target.query_value("SELECT to_regclass('crmsync.copy_progress') IS NOT NULL") == "t"
               ? std::stoi(p.target.query_value("SELECT count(*) FROM crmsync.copy_progress"))
               : 0;
  };
  auto copy_done = [&] { return p.target.query_value("SELECT count(*) FROM crmsync.apply_progress") != "0"; };
  int kills = 0;
  int kills_in_copy = 0;
  for (int round = 0; round < 10; ++round) {
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    const bool in_copy = kills_in_copy < 3;
    if (in_copy) {
      // Wait until the copy is visibly moving, then kill it a few milliseconds later.
      const int before = copied_chunks();
      wait_until([&] { return !run.running() || copied_chunks() > before; }, 60s);
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 150)(rng)));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(200, 1500)(rng)));
    }
    if (!run.running()) {
      const auto r = run.wait();
      FAIL_CHECK(r.err);
      return;
    }
    const bool copying = !copy_done();
    run.signal(SIGKILL);
    CHECK(run.wait().exit_code == 128 + SIGKILL);
    ++kills;
    if (copying) ++kills_in_copy;
  }
  workload.stop();
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  const bool equal = wait_until([&] { return all_equal(p); }, 180s);
  const auto differing = equal ? std::string() : differing_tables(p);
  CAPTURE(differing);
  run.signal(SIGTERM);
  const auto r = run.wait();
  CAPTURE(r.err);
  MESSAGE(kills, " kills, ", kills_in_copy, " of them during the copy; ", failed_steps.load(),
          " workload steps failed on the source");
  CHECK(equal);
  CHECK(r.exit_code == 0);
  CHECK(kills == 10);
  CHECK(kills_in_copy >= 3);
  CAPTURE(last_failure);
  CHECK(failed_steps.load() == 0);
  // The column added on the source reached the target, with its values.
  CHECK(p.target.query_value("SELECT count(*) FROM public.t01 WHERE extra IS NOT NULL") != "0");
  const auto log = server_log(p.target);
  CHECK(log.find("duplicate key") == std::string::npos);
  CHECK(log.find("application trigger fired") == std::string::npos);
}
