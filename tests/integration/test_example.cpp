// The realistic example of issue #11, examples/legacy-crm/, end to end: its legacy schema filled by
// its generator (dirt planted), its new-CRM schema, its mapping, exactly as scripts/demo uses them.
// The legacy CRM writes from before the copy starts until the stream has run a while, the daemon
// is killed (-9) in the copy and in the stream, and then the check queries of examples/legacy-crm/check/
// prove every transform on every row of every target table against what the generator planted;
// the DLQ holds exactly the planted dirty rows, each under its rule and column; and `dlq retry`,
// once the missing parents exist, applies the waiting changes in order.
//
// Conditions of real use: the source's DateStyle is `SQL, DMY` (the legacy dates are text in that
// order, the copy reads timestamps in it); the target role is not a superuser, owns the new CRM's
// schema and has a password with blanks and quotes; the target runs `synchronous_commit = off`.

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "support/pipeline.hpp"
#include "support/wait.hpp"

using namespace crmsync::testing;
using namespace std::chrono_literals;

namespace {

const std::string kExample = std::string(CRMSYNC_SOURCE_DIR) + "/examples/legacy-crm/";
const char* const kTables[] = {"companies", "people", "deals", "engagements", "notes"};

std::string read_example(const std::string& name) {
  std::ifstream in(kExample + name);
  REQUIRE_MESSAGE(in.good(), "cannot read ", kExample + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every row of a query as text, one per line, with dates printed the same way on both sides.
std::string rows_of(const PgCluster& c, const std::string& db, const std::string& select) {
  return c.query_value(
      fmt::format("SET DateStyle = ISO; SELECT coalesce(string_agg(r::text, E'\\n'), '') FROM ({}) r", select), db);
}

// The first line where two row listings differ, for the failure message.
std::string first_difference(const std::string& expected, const std::string& actual) {
  std::istringstream e(expected);
  std::istringstream a(actual);
  std::string le;
  std::string la;
  for (int n = 1;; ++n) {
    const bool more_e = static_cast<bool>(std::getline(e, le));
    const bool more_a = static_cast<bool>(std::getline(a, la));
    if (!more_e && !more_a) return "none";
    if (le != la || more_e != more_a)
      return fmt::format("row {}: expected \"{}\", new CRM has \"{}\"", n, more_e ? le : "(none)",
                         more_a ? la : "(none)");
  }
}

struct Example {
  PgCluster legacy{"example-legacy", {"track_commit_timestamp=on"}};
  PgCluster newcrm{"example-newcrm", {"synchronous_commit=off"}};
  TempDir dir;
  std::map<std::string, std::string> env;

  Example() {
    legacy.exec("CREATE DATABASE legacy");
    legacy.exec("ALTER DATABASE legacy SET DateStyle = 'SQL, DMY'");
    legacy.exec(read_example("legacy_schema.sql") + read_example("generate.sql"), "legacy");
    newcrm.exec(
        "CREATE ROLE crm_loader LOGIN PASSWORD 'it''s a \"secret\" \\ pass';"
        "GRANT SET ON PARAMETER session_replication_role TO crm_loader");
    newcrm.exec("CREATE DATABASE newcrm OWNER crm_loader");
    newcrm.exec("SET ROLE crm_loader;" + read_example("newcrm_schema.sql"), "newcrm");
    env = {{"LEGACY_DSN", legacy.dsn("legacy")},
           {"NEWCRM_DSN", fmt::format("host=127.0.0.1 port={} dbname=newcrm user=crm_loader password='it\\'s a "
                                      "\"secret\" \\\\ pass'",
                                      newcrm.port())},
           {"CRMSYNC_DEMO_DIR", dir.path()}};
  }
  [[nodiscard]] std::vector<std::string> args(std::vector<std::string> a) const {
    a.insert(a.begin(), crmsync_binary());
    a.insert(a.end(), {"-c", kExample + "crmsync.yaml"});
    return a;
  }
  [[nodiscard]] std::string expected(const std::string& table) const {
    return rows_of(legacy, "legacy", read_example("check/" + table + ".legacy.sql"));
  }
  [[nodiscard]] std::string actual(const std::string& table) const {
    return rows_of(newcrm, "newcrm", read_example("check/" + table + ".newcrm.sql"));
  }
  [[nodiscard]] bool all_tables_match() const {
    for (const char* t : kTables) {
      if (expected(t) != actual(t)) return false;
    }
    return true;
  }
  // Each dead-lettered key once, with the rule and column of its first letter (later letters of
  // the key are changes waiting behind it), against the dirt the generator planted.
  [[nodiscard]] std::string letters() const {
    return newcrm.query_value(
        "SELECT coalesce(string_agg(l, E'\\n' ORDER BY l), '') FROM (SELECT DISTINCT ON (source_table, source_key) "
        "source_table || ' ' || source_key || ' ' || rule || ' ' || column_name AS l FROM crmsync.dead_letters ORDER "
        "BY "
        "source_table, source_key, id) f",
        "newcrm");
  }
  [[nodiscard]] std::string planted() const {
    return legacy.query_value(
        "SELECT coalesce(string_agg(l, E'\\n' ORDER BY l), '') FROM (SELECT tbl || ' ' || format('\"%s\" = %L', CASE "
        "tbl WHEN 'public.contacts' THEN 'contact_id' WHEN 'public.opportunities' THEN 'opp_id' WHEN "
        "'public.activities' THEN 'activity_id' ELSE 'note_id' END, key) || ' ' || rule || ' ' || col AS l FROM "
        "planted.dirt) f",
        "legacy");
  }
  [[nodiscard]] std::int64_t count(const PgCluster& c, const std::string& db, const std::string& sql) const {
    return std::stoll(c.query_value(sql, db));
  }
};

}  // namespace

TEST_CASE(
    "example legacy-crm: copy and stream under writes and kill -9 map every row as the check queries say, the planted "
    "dirt is exactly the DLQ, and dlq retry applies the waiting changes once the parents exist") {
  Example ex;
  REQUIRE(ex.legacy.query_value("SELECT examples.generate(5)", "legacy").find("2000 contacts") != std::string::npos);
  {
    const auto checked = run_process(ex.args({"check", "--sample", "3000"}), ex.env);
    CAPTURE(checked.out);
    CAPTURE(checked.err);
    REQUIRE(checked.exit_code == 0);
    // The dry run sees the dirt the generator planted (the lookups are not resolved by it).
    CHECK(checked.out.find("public.contacts: 2000 rows read, 1924 would be written, 76 refused") != std::string::npos);
    CHECK(checked.out.find("column phone, rule e164: 43 rows") != std::string::npos);
    CHECK(checked.out.find("column email, rule email: 33 rows") != std::string::npos);
    CHECK(checked.out.find("column stage_code, rule map: 12 rows") != std::string::npos);
  }
  {
    // Before the first run the target has no queue: nothing to retry is not an error.
    const auto none = run_process(ex.args({"dlq", "retry", "--all"}), ex.env);
    CHECK(none.exit_code == 0);
    CHECK(none.out == "no dead letters (crmsync has not written to this target yet)\n");
  }
  // The legacy CRM works on from before the copy starts: one transaction per step.
  auto conn = ex.legacy.connect("legacy");
  std::atomic<int> steps{0};
  LoopThread workload([&](int i) {
    if (conn.exec(fmt::format("SELECT examples.workload_step({})", i + 1))) steps.fetch_add(1);
    std::this_thread::sleep_for(2ms);
  });
  const auto state = [&](const std::string& sql) {
    return ex.newcrm.query_value("SELECT to_regclass('crmsync.copy_progress') IS NOT NULL", "newcrm") == "t"
               ? ex.count(ex.newcrm, "newcrm", sql)
               : 0;
  };
  int kills = 0;
  {
    // Killed as soon as the first chunk has committed: the copy resumes from its progress rows.
    BackgroundProcess run(ex.args({"run"}), ex.env);
    REQUIRE(wait_until([&] { return !run.running() || state("SELECT count(*) FROM crmsync.copy_progress") > 0; }, 60s));
    if (!run.running()) FAIL(run.wait().err);
    run.signal(SIGKILL);
    (void)run.wait();
    ++kills;
  }
  {
    // Killed while streaming.
    BackgroundProcess run(ex.args({"run"}), ex.env);
    REQUIRE(
        wait_until([&] { return !run.running() || state("SELECT count(*) FROM crmsync.apply_progress") > 0; }, 120s));
    if (!run.running()) FAIL(run.wait().err);
    std::this_thread::sleep_for(1500ms);
    run.signal(SIGKILL);
    (void)run.wait();
    ++kills;
  }
  BackgroundProcess run(ex.args({"run"}), ex.env);
  std::this_thread::sleep_for(2s);
  workload.stop();
  MESSAGE(steps.load(), " legacy transactions, ", kills, " kills");
  REQUIRE(steps.load() > 60);
  REQUIRE(run.running());

  // Every transform on every row: each target table against its expected rows.
  CHECK(wait_until([&] { return ex.all_tables_match(); }, 120s));
  for (const char* t : kTables) {
    const auto expected = ex.expected(t);
    const auto actual = ex.actual(t);
    CAPTURE(t);
    CHECK_MESSAGE(expected == actual, first_difference(expected, actual));
  }
  // The target really uses the new CRM's ids, not the legacy ones.
  // (At or past the identity's start: a chunk rolled back by a kill -9 has used up its ids.)
  CHECK(ex.newcrm.query_value("SELECT min(id) >= 500001 FROM crm.people", "newcrm") == "t");
  CHECK(ex.newcrm.query_value("SELECT min(id) >= 100001 FROM crm.companies", "newcrm") == "t");
  // The DLQ holds exactly the planted dirt, each key under the rule and column that refused it.
  const auto planted = ex.planted();
  CHECK(ex.letters() == planted);
  CHECK(ex.count(ex.newcrm, "newcrm", "SELECT count(*) FROM crmsync.dead_letters WHERE rule = 'waits_behind'") > 0);
  // Nothing silently dropped: every source row is a target row or a dead-lettered key.
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{{"accounts", "crm.companies"},
                                                                                 {"contacts", "crm.people"},
                                                                                 {"opportunities", "crm.deals"},
                                                                                 {"activities", "crm.engagements"},
                                                                                 {"notes", "crm.notes"}}) {
    CAPTURE(from);
    CHECK(ex.count(ex.legacy, "legacy", "SELECT count(*) FROM public." + from) ==
          ex.count(ex.newcrm, "newcrm", "SELECT count(*) FROM " + to) +
              ex.count(ex.legacy, "legacy", "SELECT count(*) FROM planted.dirt WHERE tbl = 'public." + from + "'"));
  }

  // The operator restores the accounts the orphaned contacts point at; once they are in the new
  // CRM, `dlq retry all` applies those contacts with every change that waited behind them, in
  // order (their last title is what the check query compares), and nothing else moves.
  ex.legacy.exec(
      "SELECT examples.add_account(acct_id, 'restored' || acct_id) FROM (SELECT DISTINCT c.acct_id FROM contacts c "
      "JOIN planted.dirt d ON d.tbl = 'public.contacts' AND d.key = c.contact_id AND d.rule = 'lookup') r;"
      "DELETE FROM planted.dirt WHERE tbl = 'public.contacts' AND rule = 'lookup'",
      "legacy");
  REQUIRE(wait_until([&] { return ex.expected("companies") == ex.actual("companies"); }, 60s));
  run.signal(SIGTERM);
  REQUIRE(run.wait().exit_code == 0);
  const auto before = ex.count(ex.newcrm, "newcrm", "SELECT count(*) FROM crmsync.dead_letters");
  CHECK(run_process(ex.args({"dlq", "retry"}), ex.env).exit_code == 2);  // which letters?
  const auto retried = run_process(ex.args({"dlq", "retry", "--all"}), ex.env);
  CAPTURE(retried.out);
  CAPTURE(retried.err);
  CHECK(retried.exit_code == 1);  // the letters whose rows are still dirty stay
  const auto left = ex.count(ex.newcrm, "newcrm", "SELECT count(*) FROM crmsync.dead_letters");
  CHECK(left < before);
  CHECK(ex.letters() == ex.planted());
  for (const char* t : kTables) {
    const auto expected = ex.expected(t);
    const auto actual = ex.actual(t);
    CAPTURE(t);
    CHECK_MESSAGE(expected == actual, first_difference(expected, actual));
  }

  // crmsync verify agrees, through the same mapping (lookups, splits, E.164, dates): every table
  // equal, the dirt reported as dead letters; a value changed on the target is found.
  const auto verified = run_process(ex.args({"verify"}), ex.env);
  CAPTURE(verified.out);
  CAPTURE(verified.err);
  CHECK(verified.exit_code == 0);
  CHECK(verified.out.find("verify: 5 tables equal, 0 different") != std::string::npos);
  ex.newcrm.exec(
      "UPDATE crm.people SET email = 'changed.' || email WHERE id = (SELECT min(id) FROM crm.people WHERE email IS NOT "
      "NULL)",
      "newcrm");
  const auto changed = run_process(ex.args({"verify", "--table", "crm.people"}), ex.env);
  CAPTURE(changed.out);
  CHECK(changed.exit_code == 3);
  CHECK(changed.out.find("(columns email)") != std::string::npos);
}
