// Mapping rules (issue #11) against real clusters: the copy and the stream give a row the same
// target row, every transform is proven on every row by a query that computes it independently
// on the source, and refused rows follow on_invalid.

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <string>

#include <nlohmann/json.hpp>

#include "support/pipeline.hpp"
#include "support/wait.hpp"

using namespace crmsync::testing;
using namespace std::chrono_literals;

namespace {

constexpr int kRows = 2500;

constexpr const char* kSourceTable =
    "CREATE TABLE public.contacts (id bigint PRIMARY KEY, full_name text, email text, phone text, stage text, "
    "born text, notes text, score text, ssn text)";

constexpr const char* kTargetTable =
    "CREATE SCHEMA crm; CREATE TABLE crm.people (legacy_id bigint PRIMARY KEY, first_name text, last_name text, "
    "email text, phone text, stage text NOT NULL, born date, notes text, score int, source_system text NOT NULL, "
    "status text, summary text, crm_created timestamptz DEFAULT now())";

constexpr const char* kMapping = R"yaml(apply:
  max_batch_delay_ms: 10
snapshot:
  chunk_rows: 1000
mappings:
  - from: public.contacts
    to: crm.people
    on_invalid: skip
    exclude: [ssn]
    columns:
      id: legacy_id
      full_name: {transform: trim, split: {into: [first_name, last_name], at: last}}
      email: {transform: [trim, lower, null_if_empty], validate: email}
      phone: {transform: {e164: US}, validate: phone}
      stage: {transform: {map: {values: {"01": lead, "02": won}, default: unknown}}}
      born: {transform: {date_format: "DD/MM/YYYY"}}
      notes: {transform: {truncate: 5000}}
      score: {transform: {cast: integer}, validate: {range: {min: 0, max: 100}}}
    add:
      source_system: {constant: legacy_a}
      status: {default: active}
      summary: {concat: [full_name, notes], separator: ": ", transform: [trim, {truncate: 40}]}
)yaml";

// Rows g = 1..n with ids g + offset: the same values whatever the offset, so a row copied and
// its twin streamed must map to the same target row. Every 37th has an email the validator
// refuses; every 10th a notes value long enough to be TOASTed out of line.
std::string insert_rows(int offset, int n) {
  return fmt::format(
      "INSERT INTO public.contacts SELECT g + {0}, "
      "CASE g % 4 WHEN 0 THEN '  Mary Ann Smith ' WHEN 1 THEN 'Cher' WHEN 2 THEN 'Jörg Müller' END, "
      "CASE WHEN g % 37 = 0 THEN 'broken at example' WHEN g % 5 = 0 THEN ' Anna.' || g || '@Example.COM ' "
      "WHEN g % 5 = 4 THEN NULL WHEN g % 5 = 3 THEN '  ' ELSE 'user' || g || '@x.io' END, "
      "CASE g % 3 WHEN 0 THEN '(555) 123-' || lpad(g::text, 4, '0') WHEN 1 THEN '+44 20 7946 ' || "
      "lpad(g::text, 4, '0') END, "
      "CASE g % 3 WHEN 0 THEN '01' WHEN 1 THEN '02' ELSE '99' END, "
      "CASE WHEN g % 2 = 0 THEN lpad((g % 28 + 1)::text, 2, '0') || '/' || (g % 12 + 1) || '/' || (1950 + g % 50) END, "
      "CASE WHEN g % 10 = 0 THEN (SELECT string_agg(md5(g::text || k::text), '') FROM generate_series(1, 200) k) "
      "ELSE 'note ' || g END, "
      "(g % 101)::text, 'ssn-' || g FROM generate_series(1, {1}) g",
      offset, n);
}

// What the mapping must make of every source row, computed by PostgreSQL itself on the source:
// an independent statement of each rule, compared with what crmsync wrote.
constexpr const char* kExpected = R"sql(
SELECT id AS legacy_id,
       CASE WHEN position(' ' in trim(full_name)) = 0 THEN trim(full_name)
            ELSE regexp_replace(trim(full_name), ' [^ ]*$', '') END AS first_name,
       CASE WHEN position(' ' in trim(full_name)) > 0 THEN regexp_replace(trim(full_name), '^.* ', '') END AS last_name,
       nullif(lower(trim(email)), '') AS email,
       CASE WHEN phone LIKE '+%' THEN '+' || regexp_replace(phone, '\D', '', 'g')
            WHEN phone IS NOT NULL THEN '+1' || regexp_replace(phone, '\D', '', 'g') END AS phone,
       CASE stage WHEN '01' THEN 'lead' WHEN '02' THEN 'won' ELSE 'unknown' END AS stage,
       to_date(born, 'DD/MM/YYYY') AS born,
       left(notes, 5000) AS notes,
       score::int AS score,
       'legacy_a'::text AS source_system,
       left(trim(concat_ws(': ', full_name, notes)), 40) AS summary
FROM public.contacts WHERE email IS DISTINCT FROM 'broken at example'
)sql";

constexpr const char* kWritten =
    "SELECT legacy_id, first_name, last_name, email, phone, stage, born, notes, score, source_system, summary "
    "FROM crm.people";

std::string checksum_of(const PgCluster& c, const std::string& select) {
  return c.query_value(
      fmt::format("SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY legacy_id), '')) || ' ' "
                  "|| count(*) FROM ({}) t",
                  select));
}

int refused(int n) {
  return n / 37;
}

// The sum of the copy's per-chunk counts of skipped rows in a log.
int skipped_in_copy(const std::string& log) {
  const std::string marker = " row(s) refused by the mapping were skipped";
  int sum = 0;
  for (auto at = log.find(marker); at != std::string::npos; at = log.find(marker, at + 1)) {
    auto start = log.rfind(' ', at - 1);
    sum += std::stoi(log.substr(start + 1, at - start - 1));
  }
  return sum;
}

}  // namespace

TEST_CASE("mapping: every rule on every row, and the same source row gives the same target row by copy and by stream") {
  PipelineFixture p("mapping");
  p.source.exec(kSourceTable);
  p.target.exec(kTargetTable);
  p.source.exec(insert_rows(0, kRows));
  p.write_config({"public.contacts"}, kMapping);
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  const int kept = kRows - refused(kRows);
  if (!wait_until([&] { return row_count(p.target, "crm.people") == kept; }, 90s)) {
    run.signal(SIGTERM);
    FAIL("the copy did not arrive: " << run.wait().err);
  }
  CHECK(checksum_of(p.target, kWritten) == checksum_of(p.source, kExpected));
  // The twins, streamed.
  p.source.exec(insert_rows(100000, kRows));
  REQUIRE(wait_until([&] { return row_count(p.target, "crm.people") == 2 * kept; }, 60s));
  CHECK(checksum_of(p.target, kWritten) == checksum_of(p.source, kExpected));
  CHECK(p.target.query_value(fmt::format(
            "SELECT count(*) FROM crm.people a JOIN crm.people b ON b.legacy_id = a.legacy_id + 100000 WHERE "
            "(a.first_name, a.last_name, a.email, a.phone, a.stage, a.born, a.notes, a.score, a.source_system, "
            "a.status, a.summary) IS NOT DISTINCT FROM (b.first_name, b.last_name, b.email, b.phone, b.stage, b.born, "
            "b.notes, b.score, b.source_system, b.status, b.summary)")) == std::to_string(kept));
  // The refused rows are nowhere, on either path.
  CHECK(p.target.query_value("SELECT count(*) FROM crm.people WHERE legacy_id % 100000 % 37 = 0") == "0");
  // Spot checks of what the rules make of one row (g = 20: TOASTed notes, an email to clean).
  CHECK(p.target.query_value("SELECT concat_ws('|', first_name, last_name, email, phone, stage, born, score, status, "
                             "source_system) FROM crm.people WHERE legacy_id = 100020") ==
        "Mary Ann|Smith|anna.20@example.com|unknown|1970-09-21|20|active|legacy_a");
  // The new CRM takes over a row's status; an UPDATE on the source keeps it (a default, not a
  // constant). The update leaves the TOASTed notes out of the change: the concat that needs them
  // reads them back from the source.
  p.target.exec("UPDATE crm.people SET status = 'customer' WHERE legacy_id = 20");
  p.source.exec("UPDATE public.contacts SET full_name = 'Ann Lee', email = 'ANN@X.IO' WHERE id IN (20, 30)");
  p.source.exec("DELETE FROM public.contacts WHERE id IN (1, 100001)");
  REQUIRE(wait_until([&] { return row_count(p.target, "crm.people") == 2 * kept - 2; }, 60s));
  CHECK(wait_until([&] { return checksum_of(p.target, kWritten) == checksum_of(p.source, kExpected); }, 30s));
  CHECK(p.target.query_value("SELECT status FROM crm.people WHERE legacy_id = 20") == "customer");
  CHECK(p.target.query_value("SELECT status FROM crm.people WHERE legacy_id = 30") == "active");
  CHECK(p.target.query_value("SELECT summary FROM crm.people WHERE legacy_id = 20").starts_with("Ann Lee: "));
  run.signal(SIGTERM);
  const auto r = run.wait();
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
  // Counted, never silent: the copy per chunk, the stream per session.
  CHECK(skipped_in_copy(r.err) == refused(kRows));
  CHECK(r.err.find(fmt::format("{} row(s) refused by a mapping were skipped this session", refused(kRows))) !=
        std::string::npos);
}

TEST_CASE(
    "mapping: a refused row stops with on_invalid halt, naming it, and resumes with it once the mapping is fixed") {
  PipelineFixture p("mapping-halt");
  p.source.exec("CREATE TABLE public.contacts (id bigint PRIMARY KEY, email text)");
  p.target.exec("CREATE TABLE public.contacts (id bigint PRIMARY KEY, email text)");
  p.source.exec("INSERT INTO public.contacts VALUES (1, 'A@X.IO'), (2, 'b@x.io')");
  const auto mapping = [](const std::string& policy, const std::string& validate) {
    return fmt::format(
        "apply:\n  max_batch_delay_ms: 10\nmappings:\n  - from: public.contacts\n{}    columns:\n      email: "
        "{{transform: lower{}}}\n",
        policy, validate);
  };
  p.write_config({"public.contacts"}, mapping("    on_invalid: halt\n", ", validate: email"));
  // In the copy too: the chunk rolls back, nothing is written, the message names the row.
  p.source.exec("INSERT INTO public.contacts VALUES (0, 'nobody')");
  const auto copy_halt = p.crmsync({"run"});
  CAPTURE(copy_halt.err);
  CHECK(copy_halt.exit_code == 65);
  CHECK(copy_halt.err.find(
            "copy of public.contacts (chunk 0): the row with \"id\" = '0' is refused by the mapping: column "
            "email, rule email: \"nobody\" is not an email address") != std::string::npos);
  CHECK(row_count(p.target, "public.contacts") == 0);
  p.source.exec("DELETE FROM public.contacts WHERE id = 0");
  {
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 2; }, 60s));
    CHECK(p.target.query_value("SELECT email FROM public.contacts WHERE id = 1") == "a@x.io");
    p.source.exec("INSERT INTO public.contacts VALUES (3, 'not an address'), (4, 'd@x.io')");
    REQUIRE(wait_until([&] { return !run.running(); }, 60s));
    const auto r = run.wait();
    CAPTURE(r.err);
    CHECK(r.exit_code == 65);
    CHECK(
        r.err.find("the row of public.contacts with \"id\" = '3' is refused by the mapping: column email, rule email: "
                   "\"not an address\" is not an email address") != std::string::npos);
  }
  CHECK(row_count(p.target, "public.contacts") == 2);  // nothing of that transaction
  p.write_config({"public.contacts"}, mapping("    on_invalid: halt\n", ""));
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 4; }, 60s));
  CHECK(p.target.query_value("SELECT email FROM public.contacts WHERE id = 3") == "not an address");
  run.signal(SIGTERM);
  CHECK(run.wait().exit_code == 0);
}

TEST_CASE(
    "mapping: refused rows are dead letters exactly once across kill -9, and later changes to their key wait behind "
    "them") {
  PipelineFixture p("mapping-dlq");
  p.source.exec("CREATE TABLE public.contacts (id bigint PRIMARY KEY, email text)");
  p.target.exec("CREATE TABLE public.contacts (id bigint PRIMARY KEY, email text)");
  p.source.exec("INSERT INTO public.contacts VALUES (1, 'a@x.io'), (2, 'refused in the copy')");
  // on_invalid is left to its default: dead_letter.
  p.write_config({"public.contacts"},
                 "apply:\n  max_batch_delay_ms: 10\nmappings:\n  - from: public.contacts\n    "
                 "columns:\n      email: {validate: email}\n");
  constexpr int kRounds = 5;
  for (int round = 1; round <= kRounds; ++round) {
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == round; }, 60s));
    // A refused row, a change to a key that waits behind its letter, a good row: then kill -9,
    // wherever the apply is.
    p.source.exec(fmt::format("INSERT INTO public.contacts VALUES ({}, 'refused {}')", 100 + round, round));
    p.source.exec(fmt::format("UPDATE public.contacts SET email = 'fixed{}@x.io' WHERE id = 2", round));
    p.source.exec(fmt::format("INSERT INTO public.contacts VALUES ({}, 'g{}@x.io')", 200 + round, round));
    run.signal(SIGKILL);
    (void)run.wait();
  }
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 1 + kRounds; }, 60s));
  // Let the last transactions land before reading the queue.
  p.source.exec("INSERT INTO public.contacts VALUES (999, 'last@x.io')");
  REQUIRE(wait_until([&] { return row_count(p.target, "public.contacts") == 2 + kRounds; }, 60s));
  const auto listed = p.crmsync({"dlq", "list", "--json"});
  REQUIRE(listed.exit_code == 0);
  const auto letters = nlohmann::json::parse(listed.out);
  REQUIRE(letters.size() == 1 + 2 * kRounds);  // exactly once each, whatever the kills interrupted
  std::vector<std::string> key2;
  std::int64_t last_id = 0;
  for (const auto& l : letters) {
    CHECK(l["id"].get<std::int64_t>() > last_id);
    last_id = l["id"].get<std::int64_t>();
    if (l["key"] == "\"id\" = '2'")
      key2.push_back(l["rule"].get<std::string>() + " " + l["operation"].get<std::string>());
  }
  // Key 2: refused by the copy, then every later update waits behind it, in order.
  REQUIRE(key2.size() == 1 + kRounds);
  CHECK(key2.front() == "email insert");
  for (std::size_t i = 1; i < key2.size(); ++i) CHECK(key2[i] == "waits_behind update");
  CHECK(letters[0]["copy_chunk"] == 0);
  CHECK(letters[0]["reason"] == "\"refused in the copy\" is not an email address");
  CHECK(letters[0]["row"][1]["value"] == "refused in the copy");
  CHECK(p.target.query_value("SELECT count(*) FROM public.contacts WHERE id = 2 OR id > 100 AND id < 200") == "0");
  // The text form, and dropping a letter with the ones of its key that wait behind it.
  const auto text = p.crmsync({"dlq", "list", "--table", "public.contacts"});
  CHECK(text.out.find("public.contacts  \"id\" = '101'  insert  lsn ") != std::string::npos);
  CHECK(text.out.find(fmt::format("{} dead letters in public.contacts", 1 + 2 * kRounds)) != std::string::npos);
  // Drop: key 105's letter.
  std::int64_t letter_105 = 0;
  for (const auto& l : letters) {
    if (l["key"] == "\"id\" = '105'") letter_105 = l["id"].get<std::int64_t>();
  }
  const auto dropped = p.crmsync({"dlq", "drop", std::to_string(letter_105)});
  CHECK(dropped.out == "dropped 1 dead letter\n");
  // Retry needs the daemon stopped: it would race the stream for the order of a key's changes.
  const auto busy = p.crmsync({"dlq", "retry", "all"});
  CHECK(busy.exit_code == 1);
  CHECK(busy.err.find("stop the daemon first") != std::string::npos);
  run.signal(SIGTERM);
  REQUIRE(run.wait().exit_code == 0);
  // Retried through the current mapping, which still refuses them: they stay, with the reason.
  const auto still = p.crmsync({"dlq", "retry", "all"});
  CAPTURE(still.err);
  CHECK(still.exit_code == 1);
  CHECK(still.out == fmt::format("applied 0 dead letter(s); {} left (see crmsync dlq list)\n", 2 * kRounds));
  // The mapping fixed (the new CRM accepts any text here): each key's letters are applied in order.
  p.write_config({"public.contacts"},
                 "apply:\n  max_batch_delay_ms: 10\nmappings:\n  - from: public.contacts\n    "
                 "columns:\n      email: {transform: trim}\n");
  const auto retried = p.crmsync({"dlq", "retry", "all"});
  CAPTURE(retried.err);
  CHECK(retried.exit_code == 0);
  CHECK(retried.out == fmt::format("applied {} dead letter(s); 0 left (see crmsync dlq list)\n", 2 * kRounds));
  CHECK(p.target.query_value("SELECT email FROM public.contacts WHERE id = 2") == fmt::format("fixed{}@x.io", kRounds));
  CHECK(p.target.query_value("SELECT string_agg(id::text, ',' ORDER BY id) FROM public.contacts WHERE id > 100 AND "
                             "id < 200") == "101,102,103,104");
  CHECK(nlohmann::json::parse(p.crmsync({"dlq", "list", "--json"}).out).empty());
  // Released: key 2's next change is applied by the stream as any other.
  BackgroundProcess again({crmsync_binary(), "run", "-c", p.config_path()});
  p.source.exec("UPDATE public.contacts SET email = 'after@x.io' WHERE id = 2");
  CHECK(wait_until(
      [&] { return p.target.query_value("SELECT email FROM public.contacts WHERE id = 2") == "after@x.io"; }, 60s));
  again.signal(SIGTERM);
  CHECK(again.wait().exit_code == 0);
  // An UPDATE letter whose row the target no longer has: the retry must not count it applied and
  // delete it (the change would be gone without a trace); it stays, saying why.
  p.write_config({"public.contacts"},
                 "apply:\n  max_batch_delay_ms: 10\nmappings:\n  - from: public.contacts\n    "
                 "columns:\n      email: {validate: email}\n");
  BackgroundProcess third({crmsync_binary(), "run", "-c", p.config_path()});
  p.source.exec("UPDATE public.contacts SET email = 'not an address' WHERE id = 999");
  REQUIRE(wait_until([&] { return nlohmann::json::parse(p.crmsync({"dlq", "list", "--json"}).out).size() == 1; }, 60s));
  third.signal(SIGTERM);
  REQUIRE(third.wait().exit_code == 0);
  p.target.exec("DELETE FROM public.contacts WHERE id = 999");
  p.write_config({"public.contacts"},
                 "apply:\n  max_batch_delay_ms: 10\nmappings:\n  - from: public.contacts\n    "
                 "columns:\n      email: {transform: trim}\n");
  const auto missing = p.crmsync({"dlq", "retry", "all"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.out == "applied 0 dead letter(s); 1 left (see crmsync dlq list)\n");
  const auto kept = nlohmann::json::parse(p.crmsync({"dlq", "list", "--json"}).out);
  REQUIRE(kept.size() == 1);
  CHECK(kept[0]["operation"] == "update");
  CHECK(kept[0]["reason"].get<std::string>().find("the target has no row with this key") != std::string::npos);
}

TEST_CASE(
    "mapping: with REPLICA IDENTITY FULL, a column computed from an unchanged TOASTed value is rebuilt from the old "
    "row") {
  PipelineFixture p("mapping-full");
  p.source.exec(
      "CREATE TABLE public.notes (id int, title text, body text); ALTER TABLE public.notes REPLICA IDENTITY FULL");
  p.target.exec("CREATE TABLE public.notes (id int, title text, body text, summary text)");
  p.source.exec(
      "INSERT INTO public.notes SELECT g, 't' || g, (SELECT string_agg(md5(g::text || k::text), '') FROM "
      "generate_series(1, 200) k) FROM generate_series(1, 3) g");
  p.write_config({"public.notes"},
                 "apply:\n  max_batch_delay_ms: 10\nmappings:\n  - from: public.notes\n    add:\n      "
                 "summary: {concat: [title, body], separator: ' ', transform: {truncate: 12}}\n");
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  REQUIRE(wait_until([&] { return row_count(p.target, "public.notes") == 3; }, 60s));
  p.source.exec("UPDATE public.notes SET title = 'new' WHERE id = 2");  // body stays out of line, unchanged
  const auto expected = p.source.query_value("SELECT left('new ' || body, 12) FROM public.notes WHERE id = 2");
  CHECK(wait_until([&] { return p.target.query_value("SELECT summary FROM public.notes WHERE id = 2") == expected; },
                   30s));
  CHECK(p.target.query_value("SELECT count(*) FROM public.notes t WHERE length(body) = 6400") == "3");
  run.signal(SIGTERM);
  const auto r = run.wait();
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
}

TEST_CASE(
    "mapping: check --sample maps real rows through the where and reports what would be refused, by rule, writing "
    "nothing") {
  PipelineFixture p("mapping-sample");
  p.source.exec("CREATE TABLE public.contacts (id bigint PRIMARY KEY, email text, phone text)");
  p.target.exec("CREATE TABLE public.contacts (id bigint PRIMARY KEY, email text, phone text)");
  // Every 10th email is not an address, every 25th phone is not a number; ids above 500 are
  // filtered out by the where.
  p.source.exec(
      "INSERT INTO public.contacts SELECT g, CASE WHEN g % 10 = 0 THEN 'nobody at example' ELSE 'p' || g || "
      "'@example.com' END, CASE WHEN g % 25 = 0 THEN 'call me' ELSE '+1 212 555 ' || lpad(g::text, 4, '0') END FROM "
      "generate_series(1, 1000) g");
  p.write_config(
      {"public.contacts"},
      "mappings:\n  - from: public.contacts\n    where: \"id <= 500\"\n    columns:\n      email: {validate: "
      "email}\n      phone: {transform: {e164: US}, validate: phone}\n");
  const auto text = p.crmsync({"check", "--sample", "300"});
  CAPTURE(text.out);
  CHECK(text.exit_code == 0);  // refusals are findings, not failures of the check
  CHECK(text.out.find("public.contacts: 300 rows read, ") != std::string::npos);
  const auto json = nlohmann::json::parse(p.crmsync({"check", "--sample", "600", "--json"}).out);
  REQUIRE(json["sample"].size() == 1);
  const auto& s = json["sample"][0];
  CHECK(s["rows"] == 500);  // the where keeps ids above 500 out
  // A row refused by its email is not also counted for its phone: the first rule a row fails.
  CHECK(s["refused"] == 50 + 20 - 10);  // ids divisible by 50 fail both
  CHECK(s["accepted"] == 500 - 60);
  REQUIRE(s["rules"].size() == 2);
  CHECK(s["rules"][0]["column"] == "email");
  CHECK(s["rules"][0]["rows"] == 50);
  CHECK(s["rules"][1]["column"] == "phone");
  CHECK(s["rules"][1]["rows"] == 10);
  CHECK(s["rules"][0]["examples"].size() == 3);
  CHECK(s["rules"][0]["examples"][0].get<std::string>().find(": \"nobody at example\" is not an email address") !=
        std::string::npos);
  // Nothing was written: no publication, no slot, no state on the target.
  CHECK(p.source.query_value("SELECT count(*) FROM pg_publication") == "0");
  CHECK(p.source.query_value("SELECT count(*) FROM pg_replication_slots") == "0");
  CHECK(p.target.query_value("SELECT to_regclass('crmsync.dead_letters') IS NULL") == "t");
}

TEST_CASE(
    "mapping: rows in = rows written + dead letters + skipped + filtered, exactly, across kill -9s in the copy and "
    "the stream") {
  PipelineFixture p("mapping-accounting");
  const char* schema =
      "CREATE TABLE public.contacts (id bigint PRIMARY KEY, email text); CREATE TABLE public.leads (id bigint "
      "PRIMARY KEY, email text);";
  p.source.exec(schema);
  p.target.exec(schema);
  // Every 7th email is refused; ids divisible by 10 are filtered out by the where.
  const auto rows = [](const std::string& table, int from, int to) {
    return fmt::format(
        "INSERT INTO public.{} SELECT g, CASE WHEN g % 7 = 0 THEN 'bad ' || g ELSE 'p' || g || '@example.com' END "
        "FROM generate_series({}, {}) g;",
        table, from, to);
  };
  p.source.exec(rows("contacts", 1, 20000) + rows("leads", 1, 20000) + "ANALYZE;");
  p.write_config(
      {"public.contacts", "public.leads"},
      "snapshot:\n  chunk_rows: 1000\n  parallel: 2\napply:\n  max_batch_delay_ms: 10\nmappings:\n"
      "  - from: public.contacts\n    where: \"id % 10 <> 0\"\n    columns:\n      email: {validate: email}\n"
      "  - from: public.leads\n    where: \"id % 10 <> 0\"\n    on_invalid: skip\n    columns:\n      email: "
      "{validate: email}\n");
  auto conn = p.source.connect();
  std::atomic<int> next{100000};
  LoopThread workload([&](int) {
    const int id = next.fetch_add(1);
    (void)conn.exec(rows("contacts", id, id) + rows("leads", id, id));
    std::this_thread::sleep_for(2ms);
  });
  const auto state = [&](const std::string& sql) {
    return p.target.query_value("SELECT to_regclass('crmsync.apply_progress') IS NOT NULL") == "t"
               ? std::stoll(p.target.query_value(sql))
               : 0LL;
  };
  int kills = 0;
  int in_copy = 0;
  for (int round = 0; round < 6; ++round) {
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    if (round < 3) {
      const auto before = state("SELECT count(*) FROM crmsync.copy_progress");
      wait_until([&] { return !run.running() || state("SELECT count(*) FROM crmsync.copy_progress") > before; }, 60s);
    } else {
      // In the stream: once it has applied something (a slow build, e.g. under ASan, may still be
      // copying after a fixed pause), then at a varying moment.
      wait_until([&] { return !run.running() || state("SELECT count(*) FROM crmsync.apply_progress") > 0; }, 120s);
      std::this_thread::sleep_for(std::chrono::milliseconds(100 + 200 * round));
    }
    if (!run.running()) FAIL(run.wait().err);
    in_copy += state("SELECT count(*) FROM crmsync.apply_progress") == 0 ? 1 : 0;
    run.signal(SIGKILL);
    (void)run.wait();
    ++kills;
  }
  workload.stop();
  BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
  // What each side should hold, computed on the source independently of crmsync.
  const auto source_count = [&](const std::string& table, const std::string& condition) {
    return std::stoll(p.source.query_value(fmt::format("SELECT count(*) FROM public.{} WHERE {}", table, condition)));
  };
  const auto passing = "id % 10 <> 0";
  const auto refused = "id % 10 <> 0 AND email NOT LIKE '%@%'";
  const auto letters = [&] {
    return state("SELECT count(*) FROM crmsync.dead_letters WHERE source_table = 'public.contacts'");
  };
  const auto skipped = [&] {
    return state("SELECT coalesce(sum(skipped), 0) FROM crmsync.copy_progress WHERE source_table = 'public.leads'") +
           state("SELECT coalesce(sum(skipped), 0) FROM crmsync.apply_progress");
  };
  const auto converged = [&] {
    return row_count(p.target, "public.contacts") + letters() == source_count("contacts", passing) &&
           row_count(p.target, "public.leads") + skipped() == source_count("leads", passing);
  };
  CHECK(wait_until(converged, 120s));
  MESSAGE(kills, " kills, ", in_copy, " of them during the copy");
  CHECK(in_copy >= 2);
  CHECK(kills - in_copy >= 2);
  // Exactly: every refused row is a letter (or a skip) once, every other row is on the target once.
  CHECK(letters() == source_count("contacts", refused));
  CHECK(skipped() == source_count("leads", refused));
  CHECK(row_count(p.target, "public.contacts") == source_count("contacts", "id % 10 <> 0 AND email LIKE '%@%'"));
  CHECK(row_count(p.target, "public.leads") == source_count("leads", "id % 10 <> 0 AND email LIKE '%@%'"));
  // Filtered rows never left the source.
  CHECK(p.target.query_value("SELECT count(*) FROM public.contacts WHERE id % 10 = 0") == "0");
  CHECK(p.target.query_value("SELECT count(*) FROM public.leads WHERE id % 10 = 0") == "0");
  run.signal(SIGTERM);
  const auto r = run.wait();
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
}
