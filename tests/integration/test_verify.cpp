// crmsync verify (issue #12): equal tables are equal; each kind of difference a migration can
// leave behind is found, with its key, its kind and the columns it is in: a missing row, an extra
// row, one changed value, NULL vs '', -0 vs 0 in a float, one character in a TOASTed text, a jsonb
// value, one of two identical rows of a table without a key. A dead-lettered row is a dead letter,
// not missing; a change to an excluded column or to a column the new CRM keeps to itself is no
// difference; a mapped table is compared through its mapping (rename, transform, constant).

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <csignal>
#include <string>

#include <nlohmann/json.hpp>

#include "support/pipeline.hpp"
#include "support/process.hpp"
#include "support/wait.hpp"

using namespace crmsync::testing;
using namespace std::chrono_literals;

namespace {

const char* kSourceSchema =
    "CREATE TABLE public.contacts (id bigint PRIMARY KEY, email text, score float8, note text, doc jsonb);"
    "CREATE TABLE public.tags (label text, n int);"
    "ALTER TABLE public.tags REPLICA IDENTITY FULL;"
    "CREATE TABLE public.deals (id int PRIMARY KEY, stage text, amount numeric(10,2), internal text);"
    "ALTER TABLE public.deals REPLICA IDENTITY FULL;";  // still matched by its primary key
const char* kTargetSchema =
    "CREATE TABLE public.contacts (id bigint PRIMARY KEY, email text, score float8, note text, doc jsonb);"
    "CREATE TABLE public.tags (label text, n int);"
    "CREATE SCHEMA crm;"
    "CREATE TABLE crm.deals (deal_id int PRIMARY KEY, status text, amount numeric(12,2), source_system text NOT NULL,"
    "  created_at timestamptz NOT NULL DEFAULT now());";
const char* kMapping =
    "mappings:\n"
    "  - from: public.deals\n"
    "    to: crm.deals\n"
    "    columns:\n"
    "      id: deal_id\n"
    "      stage: {to: status, transform: [trim, lower], validate: {one_of: [open, won, lost]}}\n"
    "    exclude: [internal]\n"
    "    add:\n"
    "      source_system: {constant: legacy}\n"
    "    on_invalid: dead_letter\n";

nlohmann::json table_of(const nlohmann::json& doc, const std::string& source) {
  for (const auto& t : doc["tables"]) {
    if (t["source"] == source) return t;
  }
  FAIL("no table " << source << " in " << doc.dump());
  return {};
}

// The kinds listed for `source`, as "kind key [columns]" lines.
std::vector<std::string> keys_of(const nlohmann::json& table) {
  std::vector<std::string> out;
  for (const auto& k : table["keys"]) {
    std::string line = k["kind"].get<std::string>() + " " + k["key"].get<std::string>();
    for (const auto& c : k["columns"]) line += " " + c.get<std::string>();
    out.push_back(line);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("verify: equal after the copy, finds every planted difference by kind, key and column, exit 3") {
  PipelineFixture p("verify");
  p.source.exec(kSourceSchema);
  p.target.exec(kTargetSchema);
  p.source.exec(
      "INSERT INTO public.contacts SELECT g, 'c' || g || '@example.com', g / 7.0, "
      "CASE WHEN g % 100 = 14 THEN (SELECT string_agg(md5(k::text || g), '') FROM generate_series(1, 400) k) "
      "ELSE 'note ' || g END, jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g)) "
      "FROM generate_series(1, 12000) g;"
      "UPDATE public.contacts SET email = '' WHERE id = 12; UPDATE public.contacts SET score = 0 WHERE id = 13;"
      "INSERT INTO public.tags SELECT 't' || (g % 50), g % 3 FROM generate_series(1, 300) g;"
      "INSERT INTO public.tags VALUES ('twin', 1), ('twin', 1);"
      "INSERT INTO public.deals SELECT g, (ARRAY[' Open','WON ','lost'])[g % 3 + 1], g * 1.5, 'x' FROM "
      "generate_series(1, 500) g;"
      "UPDATE public.deals SET stage = 'maybe' WHERE id = 77");  // refused: a dead letter
  p.write_config({"public.contacts", "public.tags", "public.deals"},
                 std::string("snapshot:\n  chunk_rows: 3000\n") + kMapping);
  const auto copied = p.crmsync({"run", "--stop-after-copy"});
  REQUIRE_MESSAGE(copied.exit_code == 0, copied.err);
  REQUIRE(p.target.query_value("SELECT count(*) FROM crmsync.dead_letters") == "1");

  // Equal: exit 0, the dead letter reported as one, not as a missing row.
  auto equal = p.crmsync({"verify"});
  CAPTURE(equal.out);
  CAPTURE(equal.err);
  CHECK(equal.exit_code == 0);
  CHECK(equal.out.find("verify: 3 tables equal, 0 different") != std::string::npos);
  auto doc = nlohmann::json::parse(p.crmsync({"verify", "--json"}).out);
  CHECK(doc["equal"] == true);
  CHECK(table_of(doc, "public.contacts")["source_rows"] == 12000);
  CHECK(table_of(doc, "public.contacts")["target_rows"] == 12000);
  CHECK(table_of(doc, "public.tags")["target_rows"] == 302);
  CHECK(table_of(doc, "public.deals")["dead_letters"] == 1);
  CHECK(table_of(doc, "public.deals")["missing"] == 0);
  CHECK(keys_of(table_of(doc, "public.deals")) == std::vector<std::string>{"dead_letter \"deal_id\" = '77'"});

  // Not differences: an excluded source column, a column the new CRM keeps to itself.
  // (verify compares at one source position: the daemon applies the change first.)
  p.source.exec("UPDATE public.deals SET internal = 'changed' WHERE id = 5");
  const auto changed_at = p.source.query_value("SELECT pg_current_wal_lsn()");
  {
    BackgroundProcess run({crmsync_binary(), "run", "-c", p.config_path()});
    CHECK(wait_until(
        [&] {
          return p.target.query_value("SELECT count(*) FROM crmsync.apply_progress WHERE lsn >= '" + changed_at +
                                      "'") == "1";
        },
        60s));
    run.signal(SIGTERM);
    CHECK(run.wait().exit_code == 0);
  }
  p.target.exec("UPDATE crm.deals SET created_at = now() - interval '1 day' WHERE deal_id = 6");
  CHECK(p.crmsync({"verify"}).exit_code == 0);

  // Plant one of each on the target (and one on the source).
  p.target.exec(
      "DELETE FROM public.contacts WHERE id = 10;"
      "INSERT INTO public.contacts VALUES (99999, 'extra@example.com', 1, 'x', '{}');"
      "UPDATE public.contacts SET email = 'C11@example.com' WHERE id = 11;"
      "UPDATE public.contacts SET email = NULL WHERE id = 12;"                                      // '' on the source
      "UPDATE public.contacts SET score = '-0' WHERE id = 13;"                                      // 0 on the source
      "UPDATE public.contacts SET note = overlay(note placing 'X' from 3000 for 1) WHERE id = 14;"  // TOASTed
      "UPDATE public.contacts SET doc = jsonb_set(doc, '{tags,1}', '16') WHERE id = 15;"
      "DELETE FROM public.tags WHERE ctid = (SELECT min(ctid) FROM public.tags WHERE label = 'twin');"
      "UPDATE crm.deals SET status = 'won' WHERE deal_id = 3;");  // the source says ' Open' -> open
  REQUIRE(p.target.query_value("SELECT length(note) > 8000 FROM public.contacts WHERE id = 14") == "t");
  p.target.exec("UPDATE crm.deals SET amount = 1.25 WHERE deal_id = 4");
  const auto differ = p.crmsync({"verify", "--json", "--max-keys", "20"});
  CAPTURE(differ.out);
  CHECK(differ.exit_code == 3);
  doc = nlohmann::json::parse(differ.out);
  CHECK(doc["equal"] == false);
  const auto contacts = table_of(doc, "public.contacts");
  CHECK(contacts["missing"] == 1);
  CHECK(contacts["extra"] == 1);
  CHECK(contacts["different"] == 5);
  CHECK(keys_of(contacts) == std::vector<std::string>{
                                 "different \"id\" = '11' email",
                                 "different \"id\" = '12' email",
                                 "different \"id\" = '13' score",
                                 "different \"id\" = '14' note",
                                 "different \"id\" = '15' doc",
                                 "extra \"id\" = '99999'",
                                 "missing \"id\" = '10'",
                             });
  const auto tags = table_of(doc, "public.tags");
  CHECK(tags["missing"] == 1);
  CHECK(tags["extra"] == 0);
  CHECK(tags["target_rows"] == 301);
  REQUIRE(tags["keys"].size() == 1);
  CHECK(tags["keys"][0]["key"].get<std::string>().find("'twin'") != std::string::npos);
  const auto deals = table_of(doc, "public.deals");
  CHECK(keys_of(deals) == std::vector<std::string>{"dead_letter \"deal_id\" = '77'",
                                                   "different \"deal_id\" = '3' status",
                                                   "different \"deal_id\" = '4' amount"});

  // --table narrows it (by source or target name); the human report names kinds and columns.
  const auto one = p.crmsync({"verify", "--table", "crm.deals"});
  CHECK(one.exit_code == 3);
  CHECK(one.out.find("public.deals -> crm.deals") != std::string::npos);
  CHECK(one.out.find("public.contacts") == std::string::npos);
  CHECK(one.out.find("different   \"deal_id\" = '3' (columns status)") != std::string::npos);
  CHECK(one.out.find("dead_letter \"deal_id\" = '77'") != std::string::npos);
  const auto tags_only = p.crmsync({"verify", "--table", "public.tags", "--max-keys", "0"});
  CHECK(tags_only.exit_code == 3);
  CHECK(tags_only.out.find("1 missing, 0 extra, 0 different") != std::string::npos);
  CHECK(tags_only.out.find("... 1 more (--max-keys)") != std::string::npos);
  const auto unknown = p.crmsync({"verify", "--table", "public.nope"});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("--table public.nope: not a table of source.tables") != std::string::npos);
}
