// Copy crash safety and identity (issue #3): kill -9 at random moments, snapshot consistency with
// concurrent writes, refusing a different cluster.

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <map>
#include <random>
#include <thread>

#include "checkpoint/store.hpp"
#include "support/pipeline.hpp"

using namespace crmsync::testing;

namespace {

void require_ok(const ProcessResult& r) {
  CAPTURE(r.out);
  CAPTURE(r.err);
  REQUIRE(r.exit_code == 0);
}

constexpr const char* kContacts = R"sql(
CREATE TABLE public.contacts (id bigint PRIMARY KEY, email text, payload jsonb, touched boolean NOT NULL DEFAULT false,
                              created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE public.notes (body text, n int);
ALTER TABLE public.notes REPLICA IDENTITY FULL;
)sql";

void load_contacts(const PgCluster& c, int rows) {
  c.exec(fmt::format(
      "INSERT INTO public.contacts (id, email, payload) SELECT g, 'c' || g || '@example.com', "
      "jsonb_build_object('g', g, 'pad', repeat('x', 100)) FROM generate_series(1, {0}) g;"
      "INSERT INTO public.notes SELECT md5(g::text) || repeat('y', 80), g FROM generate_series(1, {0}) g; ANALYZE;",
      rows));
}

}  // namespace

TEST_CASE("copy resume: kill -9 at random moments never loses or doubles a chunk") {
  PipelineFixture p("copy-kill");
  p.source.exec(kContacts);
  p.target.exec(kContacts);
  load_contacts(p.source, 120000);
  p.write_config({"public.contacts", "public.notes"}, "snapshot:\n  chunk_rows: 1000\n  parallel: 2\n");

  // Each round waits until the copy is visibly under way (more chunks committed than before), then
  // kills it a random few milliseconds later: the kills land mid-copy, at different points.
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> delay_ms(0, 120);
  auto committed = [&] { return std::stoi(p.target.query_value("SELECT count(*) FROM crmsync.copy_progress")); };
  int killed_mid_copy = 0;
  int before = 0;
  for (int round = 0; round < 8; ++round) {
    BackgroundProcess run({crmsync_binary(), "run", "--stop-after-copy", "-c", p.config_path()});
    while (run.running() && (p.target.query_value("SELECT to_regclass('crmsync.copy_progress') IS NOT NULL") != "t" ||
                             committed() <= before)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    if (!run.running()) {
      require_ok(run.wait());
      break;  // the copy finished first
    }
    run.signal(SIGKILL);
    CHECK(run.wait().exit_code == 128 + SIGKILL);
    const int after = committed();
    CHECK(after > before);
    before = after;
    ++killed_mid_copy;
  }
  require_ok(p.crmsync({"run", "--stop-after-copy"}));
  CHECK(killed_mid_copy >= 3);
  MESSAGE("killed ", killed_mid_copy, " times mid-copy");

  CHECK(row_count(p.target, "public.contacts") == 120000);
  CHECK(table_checksum(p.target, "public.contacts", "id") == table_checksum(p.source, "public.contacts", "id"));
  CHECK(table_checksum(p.target, "public.notes", "n") == table_checksum(p.source, "public.notes", "n"));

  // The target's progress table has each chunk once (its primary key would refuse a second), and
  // RocksDB's chunk log shows each integer-key chunk copied exactly once.
  auto store = crmsync::checkpoint::Store::open(p.state_dir());
  REQUIRE(store.ok());
  auto log = (*store)->chunk_log();
  REQUIRE(log.ok());
  std::map<std::pair<std::string, std::uint32_t>, int> copies;
  for (const auto& e : *log) copies[{e.table, e.index}] += 1;
  auto chunks = (*store)->chunks("public.contacts");
  REQUIRE(chunks.ok());
  CHECK(chunks->size() >= 100);
  std::int64_t rows = 0;
  for (const auto& c : *chunks) {
    CAPTURE(c.index);
    CHECK(c.state == crmsync::checkpoint::ChunkState::Done);
    CHECK(copies[{"public.contacts", c.index}] == 1);
    rows += c.rows;
  }
  CHECK(rows == 120000);
  CHECK(p.target.query_value("SELECT sum(rows) FROM crmsync.copy_progress WHERE source_table = 'public.contacts'") ==
        "120000");
  auto phase = (*store)->phase();
  REQUIRE(phase.ok());
  CHECK(*phase == crmsync::checkpoint::Phase::Streaming);
}

TEST_CASE("copy: changes made during the copy are left to the stream and the checkpoint holds the consistent point") {
  PipelineFixture p("copy-snap");
  p.source.exec(kContacts);
  p.target.exec(kContacts);
  load_contacts(p.source, 60000);
  p.write_config({"public.contacts"}, "snapshot:\n  chunk_rows: 1000\n  parallel: 2\n");

  // A writer inserting new rows (ids above 1,000,000) and touching existing ones, throughout.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    auto conn = p.source.connect();
    for (int i = 0; !stop; ++i) {
      (void)conn.exec(fmt::format("INSERT INTO public.contacts (id, email) VALUES ({}, 'new')", 1000000 + i));
      (void)conn.exec(fmt::format("UPDATE public.contacts SET touched = true WHERE id = {}", 1 + (i * 7919) % 60000));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto r = p.crmsync({"run", "--stop-after-copy"});
  stop = true;
  writer.join();
  require_ok(r);

  auto store = crmsync::checkpoint::Store::open(p.state_dir());
  REQUIRE(store.ok());
  auto id = (*store)->source_identity();
  REQUIRE(id.ok());
  REQUIRE(id->has_value());
  // A slot that never streamed confirms exactly its consistent point.
  CHECK((*id)->consistent_lsn.to_string() ==
        p.source.query_value("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = "
                             "'crmsync_it_pipeline'"));
  const auto recorded = p.target.query_value("SELECT min(snapshot) FROM crmsync.copy_progress");
  CHECK(recorded == p.target.query_value("SELECT max(snapshot) FROM crmsync.copy_progress"));
  // "xids LSN": the slot's snapshot records the consistent point, where the stream starts.
  const auto space = recorded.find(' ');
  REQUIRE(space != std::string::npos);
  CHECK(recorded.substr(space + 1) == (*id)->consistent_lsn.to_string());
  const auto snapshot = recorded.substr(0, space);

  // Exactly the source rows whose creating transaction the snapshot sees are on the target, with
  // the values the snapshot saw; the writer's later inserts and updates are not.
  const auto visible = fmt::format("pg_visible_in_snapshot(xmin::text::xid8, '{}'::pg_snapshot)", snapshot);
  const auto invisible_rows =
      std::stoll(p.source.query_value(fmt::format("SELECT count(*) FROM public.contacts WHERE NOT {}", visible)));
  CHECK(invisible_rows > 0);  // the writer did change things during the copy
  CHECK(row_count(p.target, "public.contacts") ==
        std::stoll(p.source.query_value(fmt::format(
            "SELECT count(*) FROM public.contacts WHERE {} OR (id <= 60000 AND NOT {})", visible, visible))));
  CHECK(p.target.query_value("SELECT count(*) FROM public.contacts WHERE id > 60000 OR touched") ==
        p.source.query_value(
            fmt::format("SELECT count(*) FROM public.contacts WHERE {} AND (id > 60000 OR touched)", visible)));
}

TEST_CASE("copy: a checkpoint from another cluster is refused with exit 65") {
  PipelineFixture p("copy-ident");
  PgCluster other("copy-ident-other");
  for (const auto* c : {&p.source, &other, &p.target}) {
    c->exec("CREATE TABLE public.t (id int PRIMARY KEY, v text)");
  }
  p.source.exec("INSERT INTO public.t SELECT g, 'v' FROM generate_series(1, 100) g");
  p.write_config({"public.t"});
  require_ok(p.crmsync({"run", "--stop-after-copy"}));

  // Same config, same state_dir, but source.dsn now points at a different cluster.
  const auto yaml = fmt::format(R"yaml(name: it_pipeline
state_dir: {}
http:
  listen: 127.0.0.1:0
source:
  dsn: "{}"
  tables: [public.t]
target:
  dsn: "{}"
)yaml",
                                p.state_dir(), other.dsn(), p.target.dsn());
  p.dir.write("crmsync.yaml", yaml);
  const auto r = p.crmsync({"run", "--stop-after-copy"});
  CHECK(r.exit_code == 65);
  const auto sysid_a = p.source.query_value("SELECT system_identifier::text FROM pg_control_system()");
  const auto sysid_b = other.query_value("SELECT system_identifier::text FROM pg_control_system()");
  CHECK(r.err.find(fmt::format("the checkpoint in {} belongs to source cluster {} but postgres@127.0.0.1:{}/postgres "
                               "is cluster {}: refusing to resume against a different database",
                               p.state_dir(), sysid_a, other.port(), sysid_b)) != std::string::npos);
  CHECK(other.query_value("SELECT count(*) FROM pg_replication_slots") == "0");
}
