// Per-key compaction and multi-row statements (sink/postgres/change_buffer.hpp): a backlog that
// touches the same keys again and again is applied in big batches and must end exactly like the
// source, with compaction on, with a buffer so small it is written out inside one transaction,
// and with compaction off. A table with a second unique index keeps the source's order: a
// rotation of unique values would fail as one multi-row UPDATE.

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <csignal>
#include <regex>

#include "support/pipeline.hpp"
#include "support/wait.hpp"

using namespace crmsync::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE public.accounts (id bigint PRIMARY KEY, name text NOT NULL, big text, n int, amount numeric(12,2),
                              tags text[], note varchar(20), flags bit(3), code char(4));
CREATE TABLE public.emails (id int PRIMARY KEY, email text NOT NULL UNIQUE);
CREATE TABLE public.pairs (a int, b text, v text, PRIMARY KEY (a, b));
)sql";

const std::vector<std::string> kTables = {"public.accounts", "public.emails", "public.pairs"};

bool tables_equal(const PipelineFixture& p) {
  return table_checksum(p.target, "public.accounts", "id") == table_checksum(p.source, "public.accounts", "id") &&
         table_checksum(p.target, "public.emails", "id") == table_checksum(p.source, "public.emails", "id") &&
         table_checksum(p.target, "public.pairs", "a, b") == table_checksum(p.source, "public.pairs", "a, b");
}

// Many small source transactions that hit the same keys: repeated updates (the TOASTed column
// unchanged), insert-update, insert-delete, delete-insert, a key change, awkward text values.
std::string backlog() {
  std::string sql;
  auto txn = [&sql](const std::string& body) { sql += "BEGIN;\n" + body + "\nCOMMIT;\n"; };
  for (int r = 0; r < 40; ++r) {
    txn(fmt::format(R"(UPDATE public.accounts SET n = n + 1, name = 'r{0} "q" \ ,{{}} NULL', flags = ~flags, )"
                    R"(code = 'x' || {1} WHERE id % 10 = {1};)",
                    r, r % 10));
    txn(
        fmt::format("INSERT INTO public.accounts VALUES ({0}, 'ins', NULL, {1}, {1} * 1.25, ARRAY['a', 'b,c', NULL], "
                    "'note'); UPDATE public.accounts SET note = NULL, tags = '{{}}' WHERE id = {0};",
                    1000 + r, r));
    if (r % 3 == 0) txn(fmt::format("DELETE FROM public.accounts WHERE id = {};", 1000 + r));
    if (r % 4 == 0) {
      txn(
          fmt::format("DELETE FROM public.accounts WHERE id = {0}; INSERT INTO public.accounts VALUES ({0}, "
                      "'replaced', repeat('y', 3000), 0, NULL, '{{}}', '');",
                      r + 1));
    }
    if (r % 5 == 0) txn(fmt::format("UPDATE public.accounts SET big = md5('{0}') || big WHERE id = {1};", r, r + 2));
    if (r == 15) {
      txn("UPDATE public.accounts SET id = id + 100000 WHERE id = 40;");
      txn("UPDATE public.accounts SET n = -40 WHERE id = 100040;");
    }
    txn(
        fmt::format("UPDATE public.pairs SET v = v || '{0}' WHERE a = {1}; INSERT INTO public.pairs VALUES ({0}, "
                    "'x,y', 'new') ON CONFLICT DO NOTHING;",
                    100 + r, r % 5));
    // Rotate the unique emails of rows 1..5 one step (row k takes row k+1's), through a temporary
    // value, 7 times: the net change is a permutation of existing values, which one multi-row
    // UPDATE could not write without a duplicate key.
    if (r < 7) {
      auto v = [](int k, int round) { return fmt::format("e{}", (k - 1 + round) % 5 + 1); };
      txn("UPDATE public.emails SET email = 'tmp' WHERE id = 1;");
      for (int id = 5; id >= 1; --id) {
        txn(fmt::format("UPDATE public.emails SET email = '{}' WHERE id = {};", v(id, r + 1), id));
      }
    }
  }
  txn("DELETE FROM public.accounts WHERE id BETWEEN 150 AND 160;");
  return sql;
}

// "N rows of them in multi-row statements, M changes merged" from the stop line.
std::pair<long, long> stop_counters(const std::string& log) {
  std::smatch m;
  static const std::regex kLine(R"((\d+) rows of them in multi-row statements, (\d+) changes merged)");
  if (!std::regex_search(log, m, kLine)) return {-1, -1};
  return {std::stol(m[1].str()), std::stol(m[2].str())};
}

void run_backlog(const std::string& label, const std::string& apply_yaml, bool expect_compaction) {
  PipelineFixture p(label);
  p.source.exec(kSchema);
  p.target.exec(kSchema);
  p.source.exec(R"sql(
INSERT INTO public.accounts SELECT g, 'acct ' || g, (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 400) i),
  g, g * 10.5, ARRAY['t' || g], 'n' || g, (g % 8)::bit(3), 'c' || (g % 10) FROM generate_series(1, 200) g;
INSERT INTO public.emails SELECT g, 'e' || g FROM generate_series(1, 20) g;
INSERT INTO public.pairs SELECT g % 5, 'b' || g, 'v' FROM generate_series(1, 50) g;
)sql");
  p.write_config(kTables, apply_yaml);
  {
    BackgroundProcess first({crmsync_binary(), "run", "-c", p.config_path()});
    REQUIRE(wait_until([&] { return tables_equal(p); }, 60s));
    first.signal(SIGTERM);
    REQUIRE(first.wait().exit_code == 0);
  }
  // The backlog builds up while crmsync is stopped, so it is applied in big batches.
  p.source.exec(backlog());
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  const bool equal = wait_until([&] { return tables_equal(p); }, 90s);
  run.signal(SIGTERM);
  const auto stopped = run.wait();
  CAPTURE(stopped.err);
  CHECK(equal);
  CHECK(stopped.exit_code == 0);
  CHECK(stopped.err.find("duplicate key") == std::string::npos);
  CHECK(p.target.query_value("SELECT count(*) FROM public.accounts WHERE big IS NULL") ==
        p.source.query_value("SELECT count(*) FROM public.accounts WHERE big IS NULL"));
  const auto [multirow, merged] = stop_counters(stopped.err);
  if (expect_compaction) {
    CHECK(multirow > 0);
    CHECK(merged > 0);
    CHECK(stopped.err.find("changes to public.emails keep the source's order") != std::string::npos);
    CHECK(stopped.err.find("changes to public.accounts keep the source's order") == std::string::npos);
  } else {
    CHECK(multirow == 0);
    CHECK(merged == 0);
  }
}

}  // namespace

TEST_CASE("stream compaction: a backlog of repeated changes per key applies exactly, in big batches") {
  run_backlog("compact-big", "apply:\n  max_batch_delay_ms: 5000\n  max_batch_bytes: 67108864\n", true);
}

TEST_CASE("stream compaction: a buffer smaller than one transaction is written out inside it") {
  run_backlog("compact-small", "apply:\n  max_batch_delay_ms: 5000\n  max_batch_bytes: 20000\n", true);
}

TEST_CASE("stream compaction: apply.compact false writes one statement per change in source order") {
  run_backlog("compact-off", "apply:\n  compact: false\n  max_batch_delay_ms: 5000\n", false);
}

namespace {

// A batch far bigger than the 1 MB write-behind of the compaction buffer, so that most of it is on
// the target, uncommitted, when the commit fails. The failure comes from a deferred constraint
// trigger on a second table (a trigger on accounts would turn its compaction off), at COMMIT: it
// raises while public.gate is closed, and kills its own session once if terminate_once is set.
constexpr const char* kCommitSchema = R"sql(
CREATE TABLE public.accounts (id bigint PRIMARY KEY, payload text NOT NULL, n int NOT NULL);
CREATE TABLE public.gatekeeper (id int PRIMARY KEY, v int NOT NULL);
)sql";

constexpr const char* kCommitGate = R"sql(
CREATE TABLE public.gate (closed bool NOT NULL, terminate_once bool NOT NULL);
INSERT INTO public.gate VALUES (false, false);
CREATE SEQUENCE public.terminations;
CREATE FUNCTION public.at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT closed FROM public.gate) THEN
    RAISE EXCEPTION 'refused at commit after % row updates of public.accounts in this transaction',
      (SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relid = 'public.accounts'::regclass);
  END IF;
  IF (SELECT terminate_once FROM public.gate) AND nextval('public.terminations') = 1 THEN
    PERFORM pg_terminate_backend(pg_backend_pid());
  END IF;
  RETURN NULL;
END$$;
CREATE CONSTRAINT TRIGGER at_commit AFTER UPDATE ON public.gatekeeper DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION public.at_commit();
ALTER TABLE public.gatekeeper ENABLE ALWAYS TRIGGER at_commit;
)sql";

bool commit_tables_equal(const PipelineFixture& p) {
  return table_checksum(p.target, "public.accounts", "id") == table_checksum(p.source, "public.accounts", "id") &&
         table_checksum(p.target, "public.gatekeeper", "id") == table_checksum(p.source, "public.gatekeeper", "id");
}

// Copies, stops, then builds the backlog: one source transaction of 60 rounds over the 200 accounts
// (about 3 MB of changes, each key changed 60 times) that ends by touching the gatekeeper.
void copy_then_backlog(PipelineFixture& p) {
  p.source.exec(kCommitSchema);
  p.target.exec(kCommitSchema);
  p.target.exec(kCommitGate);
  p.source.exec(
      "INSERT INTO public.accounts SELECT g, repeat('a', 200), 0 FROM generate_series(1, 200) g;"
      "INSERT INTO public.gatekeeper VALUES (1, 0)");
  p.write_config({"public.accounts", "public.gatekeeper"}, "apply:\n  max_batch_delay_ms: 1000\n");
  {
    BackgroundProcess first({crmsync_binary(), "run", "-c", p.config_path()});
    REQUIRE(wait_until([&] { return commit_tables_equal(p); }, 60s));
    first.signal(SIGTERM);
    REQUIRE(first.wait().exit_code == 0);
  }
  std::string big = "BEGIN;\n";
  for (int round = 1; round <= 60; ++round) {
    big += fmt::format("UPDATE public.accounts SET n = n + 1, payload = md5(id::text || '{0}') || repeat('r', 170);\n",
                       round);
  }
  big += "UPDATE public.gatekeeper SET v = v + 1;\nCOMMIT;\n";
  p.source.exec(big);
  p.source.exec("INSERT INTO public.accounts VALUES (201, 'after', 1); UPDATE public.gatekeeper SET v = v + 1");
}

}  // namespace

TEST_CASE("stream compaction: a batch written out in part and then refused at its commit is rolled back whole") {
  PipelineFixture p("compact-commit");
  copy_then_backlog(p);
  const auto before = table_checksum(p.target, "public.accounts", "id");
  const auto progress_before = p.target.query_value("SELECT lsn FROM crmsync.apply_progress");
  SUBCASE("a refusal stops the pipeline; once it is fixed, the transaction is applied whole") {
    p.target.exec("UPDATE public.gate SET closed = true");
    {
      BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
      REQUIRE(wait_until([&] { return !run.running(); }, 120s));
      const auto r = run.wait();
      CAPTURE(r.err);
      CHECK(r.exit_code == 65);
      // More row updates than accounts: the buffer was written out more than once before COMMIT
      // (one write-out changes each key at most once).
      std::smatch m;
      static const std::regex kRefused(R"(refused at commit after (\d+) row updates)");
      REQUIRE(std::regex_search(r.err, m, kRefused));
      CHECK(std::stol(m[1].str()) > 200);
      CHECK(r.err.find("there is no transaction in progress") == std::string::npos);
    }
    CHECK(table_checksum(p.target, "public.accounts", "id") == before);
    CHECK(p.target.query_value("SELECT lsn FROM crmsync.apply_progress") == progress_before);
    CHECK(p.target.query_value("SELECT v FROM public.gatekeeper") == "0");
    p.target.exec("UPDATE public.gate SET closed = false");
  }
  SUBCASE("a session lost at COMMIT is rolled back by the target and sent again") {
    p.target.exec("UPDATE public.gate SET terminate_once = true");
  }
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  const bool equal = wait_until([&] { return commit_tables_equal(p); }, 120s);
  run.signal(SIGTERM);
  const auto r = run.wait();
  CAPTURE(r.err);
  CHECK(equal);
  CHECK(r.exit_code == 0);
  CHECK(p.target.query_value("SELECT sum(n) FROM public.accounts") == "12001");
  CHECK(p.target.query_value("SELECT v FROM public.gatekeeper") == "2");
  if (p.target.query_value("SELECT terminate_once FROM public.gate") == "t") {
    // Killed once at the first commit; the commit sent again fired the trigger for both rows.
    CHECK(p.target.query_value("SELECT last_value FROM public.terminations") == "3");
    CHECK(r.err.find("terminating connection due to administrator command (SQLSTATE 57P01)") != std::string::npos);
    CHECK(r.err.find("apply interrupted") != std::string::npos);
  }
}
