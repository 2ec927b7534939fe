// `crmsync check` and the command line, black-box, against real PostgreSQL clusters.

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "support/cluster.hpp"
#include "support/process.hpp"
#include "support/wait.hpp"

using crmsync::testing::crmsync_binary;
using crmsync::testing::PgCluster;
using crmsync::testing::ProcessResult;
using crmsync::testing::TempDir;
using json = nlohmann::json;
using crmsync::testing::wait_until;
using namespace std::chrono_literals;

namespace {

constexpr const char* kSourceSchema = R"sql(
CREATE TABLE public.accounts (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.contacts (id bigint PRIMARY KEY, account_id bigint, email text, ssn text);
CREATE TABLE public.notes_nopk (body text);
CREATE TABLE public.audit_full (body text);
ALTER TABLE public.audit_full REPLICA IDENTITY FULL;
CREATE TABLE "Sales Team"."Región" (id int PRIMARY KEY);
)sql";

std::string config_yaml(const std::string& tables, const std::string& extra = "") {
  return fmt::format(R"yaml(name: it_check
state_dir: /nonexistent/crmsync-it-state
source:
  dsn: "${{SOURCE_DSN}}"
  tables: [{}]
target:
  type: postgres
  dsn: "${{TARGET_DSN}}"
{}
)yaml",
                     tables, extra);
}

ProcessResult run_check(const TempDir& dir, const std::string& yaml, const std::string& source_dsn,
                        const std::string& target_dsn, bool as_json = true) {
  const auto path = dir.write("crmsync.yaml", yaml);
  std::vector<std::string> argv{crmsync_binary(), "check", "-c", path};
  if (as_json) argv.emplace_back("--json");
  return crmsync::testing::run_process(argv, {{"SOURCE_DSN", source_dsn}, {"TARGET_DSN", target_dsn}});
}

// name -> {status, detail} from the JSON report.
std::map<std::string, std::pair<std::string, std::string>> items(const ProcessResult& r) {
  std::map<std::string, std::pair<std::string, std::string>> out;
  const auto doc = json::parse(r.out);
  for (const auto& c : doc["checks"]) {
    out[c["scope"].get<std::string>() + " " + c["name"].get<std::string>()] = {c["status"], c["detail"]};
  }
  return out;
}

struct Pair {
  PgCluster source{"check-src"};
  PgCluster target{"check-tgt"};
  Pair() {
    source.exec("CREATE SCHEMA \"Sales Team\";" + std::string(kSourceSchema));
    target.exec(
        "CREATE TABLE public.accounts (id bigint PRIMARY KEY, name varchar(200) NOT NULL);"
        "CREATE SCHEMA crm; CREATE TABLE crm.people (legacy_id bigint PRIMARY KEY, company_id bigint);"
        "CREATE TABLE public.contacts (id bigint PRIMARY KEY, account_id bigint);");
  }
};

}  // namespace

TEST_CASE("check passes on a well-prepared source and target, and reports every check") {
  Pair p;
  TempDir dir;
  const auto r = run_check(dir, config_yaml("public.accounts, public.audit_full", "  create_tables: true\n"),
                           p.source.dsn(), p.target.dsn());
  CAPTURE(r.out);
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
  const auto doc = json::parse(r.out);
  CHECK(doc["ok"] == true);
  auto it = items(r);
  CHECK(it["source connect"].first == "ok");
  CHECK(it["source connect"].second == fmt::format("postgres@127.0.0.1:{}/postgres, PostgreSQL 15.{}", p.source.port(),
                                                   std::stoi(p.source.query_value("SHOW server_version_num")) % 10000));
  CHECK(it["source wal_level"] == std::pair<std::string, std::string>{"ok", "logical"});
  CHECK(it["source replication slots"] == std::pair<std::string, std::string>{"ok", "20 of 20 free"});
  CHECK(it["source max_slot_wal_keep_size"].first == "warn");
  CHECK(it["source max_slot_wal_keep_size"].second.starts_with("-1 (unlimited): "));
  CHECK(it["source max_slot_wal_keep_size"].second.find("ALTER SYSTEM SET max_slot_wal_keep_size = '16GB'") !=
        std::string::npos);
  CHECK(it["source replication privilege"] ==
        std::pair<std::string, std::string>{"ok", "role \"postgres\" is a superuser"});
  CHECK(it["source table public.accounts"].first == "ok");
  CHECK(it["source table public.accounts"].second.starts_with("2 columns, primary key, "));
  CHECK(it["source table public.audit_full"].second.starts_with("1 columns, REPLICA IDENTITY FULL, "));
  CHECK(it["target table public.accounts"] ==
        std::pair<std::string, std::string>{
            "warn", "types differ, values are cast by the target on write: name (text -> character varying(200))"});
  CHECK(it["target table public.audit_full"] ==
        std::pair<std::string, std::string>{"ok", "does not exist; will be created (target.create_tables)"});
  CHECK(it["state checkpoint"] ==
        std::pair<std::string, std::string>{
            "ok", "nothing recorded in /nonexistent/crmsync-it-state yet: run starts with the copy"});
  CHECK(r.err.empty());
}

TEST_CASE("check: max_slot_wal_keep_size against source.max_retained_wal and the recommendation") {
  Pair p;
  TempDir dir;
  const auto value = [&](const std::string& setting) {
    p.source.exec(fmt::format("ALTER SYSTEM SET max_slot_wal_keep_size = '{}'", setting));
    p.source.exec("SELECT pg_reload_conf()");
    REQUIRE(wait_until([&] { return p.source.query_value("SHOW max_slot_wal_keep_size") == setting; }, 10s));
    return items(run_check(dir, config_yaml("public.accounts"), p.source.dsn(),
                           p.target.dsn()))["source max_slot_wal_keep_size"];
  };
  const auto tiny = value("1MB");
  CHECK(tiny.first == "warn");
  CHECK(tiny.second.starts_with("1 MB: the slot is lost before crmsync warns at source.max_retained_wal (8192 MB)"));
  const auto small = value("10GB");
  CHECK(small.first == "warn");
  CHECK(small.second.starts_with("10240 MB: less than the recommended 16 GB"));
  const auto enough = value("20GB");
  CHECK(enough.first == "ok");
  CHECK(enough.second.starts_with("20480 MB ("));
}

TEST_CASE("check fails on a publication made by hand that run would refuse, before anything is created") {
  Pair p;
  TempDir dir;
  p.source.exec(
      "CREATE PUBLICATION crmsync_it_check FOR TABLE public.accounts, public.contacts WITH (publish = 'insert, "
      "update')");
  const auto r = run_check(dir, config_yaml("public.accounts, public.audit_full", "  create_tables: true\n"),
                           p.source.dsn(), p.target.dsn());
  CAPTURE(r.out);
  CHECK(r.exit_code == 1);
  auto it = items(r);
  // A table the publication lacks is added by the first run; the rest would be refused by it.
  CHECK(it["source publication"].first == "ok");
  CHECK(it["state publication settings"].first == "fail");
  const auto& detail = it["state publication settings"].second;
  CHECK(detail.find("does not publish delete, truncate") != std::string::npos);
  CHECK(detail.find("also publishes public.contacts, which is not in source.tables") != std::string::npos);
  CHECK(detail.find("public.audit_full") == std::string::npos);
  // Fixed as the advice says, the check passes.
  p.source.exec(
      "ALTER PUBLICATION crmsync_it_check SET (publish = 'insert, update, delete, truncate');"
      "ALTER PUBLICATION crmsync_it_check DROP TABLE public.contacts");
  const auto fixed = run_check(dir, config_yaml("public.accounts, public.audit_full", "  create_tables: true\n"),
                               p.source.dsn(), p.target.dsn());
  CAPTURE(fixed.out);
  CHECK(fixed.exit_code == 0);
  CHECK(items(fixed).count("state publication settings") == 0);
}

TEST_CASE("check fails on a table without a key, a missing table, missing target columns and bad mappings") {
  Pair p;
  TempDir dir;
  const auto yaml = config_yaml("public.contacts, public.notes_nopk, public.nope, '\"Sales Team\".\"Región\"'") +
                    R"yaml(mappings:
  - from: public.contacts
    to: crm.people
    columns:
      id: legacy_id
      account_id: {to: company_id}
      phone: phone_number
    exclude: [ssn]
)yaml";
  const auto r = run_check(dir, yaml, p.source.dsn(), p.target.dsn());
  CAPTURE(r.out);
  CAPTURE(r.err);
  CHECK(r.exit_code == 1);
  auto it = items(r);
  CHECK(
      it["source table public.notes_nopk"] ==
      std::pair<std::string, std::string>{
          "fail",
          "no primary key and REPLICA IDENTITY DEFAULT: the copy would work, but once the table is published the "
          "source rejects its UPDATEs and DELETEs, and the stream could not locate rows; add a primary key, or run "
          "ALTER TABLE \"public\".\"notes_nopk\" REPLICA IDENTITY FULL (or USING INDEX on a unique, non-null index)"});
  CHECK(it["source table public.nope"] ==
        std::pair<std::string, std::string>{"fail", "does not exist on the source (names are case-sensitive)"});
  CHECK(it["source table Sales Team.Región"].first == "ok");
  CHECK(it["config mapping public.contacts"] ==
        std::pair<std::string, std::string>{
            "fail", "column \"phone\" is named in the mapping but the source table has no such column"});
  CHECK(it["target table crm.people"] == std::pair<std::string, std::string>{"fail", "missing columns: email"});
  CHECK(it["target table public.notes_nopk"] ==
        std::pair<std::string, std::string>{
            "fail",
            "does not exist on the target: create it (the new CRM owns its schema), or set target.create_tables: true "
            "for an identity mapping"});
  CHECK(it["target table Sales Team.Región"].first == "fail");
}

TEST_CASE("check fails on wal_level=replica and a role without REPLICATION, and prints a readable table") {
  PgCluster source{"check-replica", {"wal_level=replica"}};
  source.exec(
      "CREATE TABLE public.accounts (id bigint PRIMARY KEY);"
      "CREATE ROLE app LOGIN; GRANT SELECT ON public.accounts TO app;");
  TempDir dir;
  const auto dsn = fmt::format("host=127.0.0.1 port={} user=app dbname=postgres", source.port());
  const auto r = run_check(dir, config_yaml("public.accounts"), dsn, source.dsn(), /*as_json=*/false);
  CAPTURE(r.out);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("source  wal_level ") != std::string::npos);
  CHECK(
      r.out.find(" FAIL   wal_level is \"replica\"; logical decoding needs it to be \"logical\": run ALTER SYSTEM SET "
                 "wal_level = logical and restart the source\n") != std::string::npos);
  CHECK(r.out.find(" FAIL   role \"app\" has neither REPLICATION nor SUPERUSER: run ALTER ROLE \"app\" WITH "
                   "REPLICATION\n") != std::string::npos);
  CHECK(r.out.find("\npreflight FAILED: ") != std::string::npos);
}

TEST_CASE("check reports an unreachable server without printing the password") {
  PgCluster target{"check-unreach"};
  TempDir dir;
  // Nothing listens on port 1; the password must appear nowhere in the output.
  const auto r = run_check(dir, config_yaml("public.accounts"),
                           "host=127.0.0.1 port=1 user=crm password=TopSecret123 dbname=legacy connect_timeout=2",
                           target.dsn() + " password=TopSecret123");
  CAPTURE(r.out);
  CHECK(r.exit_code == 1);
  auto it = items(r);
  CHECK(it["source connect"].first == "fail");
  CHECK(it["source connect"].second.starts_with("cannot connect to crm@127.0.0.1:1/legacy: "));
  CHECK(it["target connect"].first == "ok");
  CHECK(r.out.find("TopSecret123") == std::string::npos);
  CHECK(r.err.find("TopSecret123") == std::string::npos);
}

TEST_CASE("check: the target's types must fit what the mapping writes after its transforms") {
  PgCluster source{"fit-src"};
  PgCluster target{"fit-tgt"};
  source.exec(
      "CREATE TABLE public.leads (id bigint PRIMARY KEY, phone text, seen text, stage text, title text, code "
      "varchar(20), full_name text)");
  target.exec(
      "CREATE TYPE stage AS ENUM ('lead', 'won');"
      "CREATE DOMAIN short_text AS varchar(5);"
      "CREATE TABLE public.ok_leads (id bigint PRIMARY KEY, phone varchar(16), seen timestamptz, stage stage, title "
      "varchar(10), code varchar(20), first_name text, last_name text, origin short_text);"
      "CREATE TABLE public.bad_leads (id bigint PRIMARY KEY, phone bigint, seen date, stage stage, title varchar(10), "
      "code varchar(5), first_name integer, last_name text, origin short_text)");
  const auto mapping = [](const std::string& to, const std::string& stage_values, const std::string& origin) {
    return fmt::format(R"yaml(mappings:
  - from: public.leads
    to: {}
    columns:
      phone: {{transform: {{e164: US}}}}
      seen: {{transform: {{date_format: "DD/MM/YYYY HH24:MI"}}}}
      stage: {{transform: {{map: {{values: {}}}}}}}
      title: {{transform: [trim, {{truncate: 10}}]}}
      code: {{transform: trim}}
      full_name: {{split: {{into: [first_name, last_name]}}}}
    add:
      origin: {{constant: {}}}
)yaml",
                       to, stage_values, origin);
  };
  TempDir dir;
  {
    const auto r = run_check(dir, config_yaml("public.leads", mapping("public.ok_leads", "{a: lead, b: won}", "crm1")),
                             source.dsn(), target.dsn());
    CAPTURE(r.out);
    CHECK(r.exit_code == 0);
    CHECK(items(r)["target table public.ok_leads"] == std::pair<std::string, std::string>{"ok", "9 columns mapped"});
  }
  {
    // Every column that cannot fit is named, with why.
    const auto r =
        run_check(dir, config_yaml("public.leads", mapping("public.bad_leads", "{a: lead, b: closed}", "crm1")),
                  source.dsn(), target.dsn());
    CAPTURE(r.out);
    CHECK(r.exit_code == 1);
    const auto detail = items(r)["target table public.bad_leads"];
    CHECK(detail.first == "fail");
    CHECK(detail.second.starts_with("types do not fit after the transforms: "));
    CHECK(detail.second.find("phone (e164 gives text, the column is bigint)") != std::string::npos);
    CHECK(detail.second.find(
              "seen (date_format gives a date and time, and a date column drops the time, the column is date)") !=
          std::string::npos);
    CHECK(detail.second.find("stage (the value 'closed' from map is not a stage)") != std::string::npos);
    CHECK(detail.second.find("first_name (split gives text, the column is integer)") != std::string::npos);
    CHECK(detail.second.find("title") == std::string::npos);  // truncated to what fits
  }
  {
    // A constant longer than the domain's varchar(5) cannot fit; a trimmed varchar(20) into a
    // varchar(5) may not (a warning); a title cut to 10 characters into 10 fits.
    target.exec(
        "ALTER TABLE public.bad_leads ALTER phone TYPE text, ALTER seen TYPE timestamp, ALTER first_name TYPE text");
    const auto r = run_check(dir, config_yaml("public.leads", mapping("public.bad_leads", "{a: lead}", "legacy_crm")),
                             source.dsn(), target.dsn());
    CAPTURE(r.out);
    const auto detail = items(r)["target table public.bad_leads"];
    CHECK(detail == std::pair<std::string, std::string>{
                        "fail",
                        "types do not fit after the transforms: origin (the value 'legacy_crm' from constant is "
                        "longer than 5 characters)"});
    const auto warned = run_check(dir, config_yaml("public.leads", mapping("public.bad_leads", "{a: lead}", "crm1")),
                                  source.dsn(), target.dsn());
    CAPTURE(warned.out);
    CHECK(warned.exit_code == 0);
    CHECK(items(warned)["target table public.bad_leads"] ==
          std::pair<std::string, std::string>{
              "warn",
              "values may be too long for the target: code (character varying(5): a longer value stops the pipeline; "
              "add {truncate: 5} or validate {max_length: 5})"});
  }
}
