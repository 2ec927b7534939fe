#include <doctest/doctest.h>
#include <rocksdb/db.h>
#include <stdlib.h>

#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "checkpoint/records.hpp"
#include "checkpoint/store.hpp"

using crmsync::ErrorCode;
using crmsync::Lsn;
using namespace crmsync::checkpoint;

namespace {

// A fresh directory per test, removed at the end even when a check fails.
struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "crmsync-ckpt-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] std::string sub(const char* name) const { return path + "/" + name; }
};

std::unique_ptr<Store> open_ok(const std::string& dir) {
  auto store = Store::open(dir);
  REQUIRE_MESSAGE(store.ok(), (store.ok() ? "" : store.error().message));
  return std::move(store).value();
}

ChunkRecord chunk(const std::string& table, std::uint32_t index, std::optional<std::int64_t> lower,
                  std::optional<std::int64_t> upper) {
  ChunkRecord c;
  c.table = table;
  c.index = index;
  c.kind = ChunkKind::KeyRange;
  c.lower = lower;
  c.upper = upper;
  return c;
}

SourceIdentity identity() {
  return SourceIdentity{"7301234567890123456", 1, "crmsync_legacy", "crmsync_legacy_pub", Lsn{0x16B374D848ULL}};
}

// Writes raw bytes under `key`, bypassing the store: the way disk damage or a stray ldb put looks.
void put_raw(const std::string& dir, const std::string& key, const std::string& value) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  REQUIRE(rocksdb::DB::Open(options, dir, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  REQUIRE(db->Put(rocksdb::WriteOptions{}, key, value).ok());
}

}  // namespace

TEST_CASE("checkpoint: a fresh store is Phase::New with nothing recorded") {
  TempDir tmp;
  auto store = open_ok(tmp.sub("nested/state"));  // parent directories are created
  CHECK(*store->phase() == Phase::New);
  CHECK_FALSE(store->source_identity()->has_value());
  CHECK_FALSE(store->confirmed_lsn()->has_value());
  CHECK(store->chunks()->empty());
  CHECK(store->chunk_log()->empty());
  CHECK_FALSE(store->get_meta("cutover/started")->has_value());
  CHECK(to_string(Phase::Streaming) == "streaming");
}

TEST_CASE("checkpoint: phase, source identity, confirmed LSN and meta survive close and reopen") {
  TempDir tmp;
  {
    auto store = open_ok(tmp.path);
    REQUIRE(store->set_phase(Phase::Streaming).ok());
    REQUIRE(store->set_source_identity(identity()).ok());
    REQUIRE(store->set_confirmed_lsn(Lsn{0x1700000010ULL}).ok());
    REQUIRE(store->put_meta("cutover/marker", "{\"lsn\":\"17/10\"}").ok());
  }
  auto store = open_ok(tmp.path);
  CHECK(*store->phase() == Phase::Streaming);
  REQUIRE(store->source_identity()->has_value());
  CHECK(**store->source_identity() == identity());
  CHECK(**store->confirmed_lsn() == Lsn{0x1700000010ULL});
  CHECK(**store->get_meta("cutover/marker") == "{\"lsn\":\"17/10\"}");
}

TEST_CASE("checkpoint: the confirmed LSN never moves backwards") {
  TempDir tmp;
  auto store = open_ok(tmp.path);
  REQUIRE(store->set_confirmed_lsn(Lsn{200}).ok());
  CHECK(store->set_confirmed_lsn(Lsn{200}).ok());  // re-confirming the same position is harmless
  auto back = store->set_confirmed_lsn(Lsn{100});
  REQUIRE_FALSE(back.ok());
  CHECK(back.error().message.find("backwards") != std::string::npos);
  CHECK_FALSE(store->set_confirmed_lsn(Lsn{}).ok());
  CHECK(**store->confirmed_lsn() == Lsn{200});
}

TEST_CASE("checkpoint: plan_table replaces an earlier plan of that table only") {
  TempDir tmp;
  auto store = open_ok(tmp.path);
  REQUIRE(store
              ->plan_table("public.contacts",
                           {chunk("public.contacts", 0, std::nullopt, 100), chunk("public.contacts", 1, 100, 200),
                            chunk("public.contacts", 2, 200, std::nullopt)})
              .ok());
  // Neighbours whose keys share a prefix must survive the re-plan.
  REQUIRE(store->plan_table("public.contacts/x", {chunk("public.contacts/x", 0, std::nullopt, std::nullopt)}).ok());
  REQUIRE(store->plan_table("public.accounts", {chunk("public.accounts", 0, std::nullopt, std::nullopt)}).ok());

  const std::vector<ChunkRecord> replan{chunk("public.contacts", 0, std::nullopt, 150),
                                        chunk("public.contacts", 1, 150, std::nullopt)};
  REQUIRE(store->plan_table("public.contacts", replan).ok());
  CHECK(*store->chunks("public.contacts") == replan);

  auto all = *store->chunks();
  REQUIRE(all.size() == 4);
  CHECK(all[0].table == "public.accounts");
  CHECK(all[1].table == "public.contacts");
  CHECK(all[2].table == "public.contacts");
  CHECK(all[2].index == 1);
  CHECK(all[3].table == "public.contacts/x");

  CHECK(store->plan_table("public.contacts", {}).ok());  // an empty plan removes the table's chunks
  CHECK(store->chunks("public.contacts")->empty());
}

TEST_CASE("checkpoint: plan_table and mark_chunk_done reject what does not fit the plan") {
  TempDir tmp;
  auto store = open_ok(tmp.path);
  CHECK(store->plan_table("public.a", {chunk("public.b", 0, std::nullopt, std::nullopt)}).error().code ==
        ErrorCode::InvalidArgument);
  CHECK_FALSE(store->plan_table("public.a", {chunk("public.a", 0, 1, 2), chunk("public.a", 0, 2, 3)}).ok());
  CHECK(store->chunks()->empty());  // a rejected plan writes nothing
  auto unplanned = store->mark_chunk_done("public.a", 7, 10, "1:2:");
  REQUIRE_FALSE(unplanned.ok());
  CHECK(unplanned.error().message.find("never planned") != std::string::npos);
  CHECK(store->chunk_log()->empty());
}

TEST_CASE("checkpoint: mark_chunk_done updates the chunk and appends to the log") {
  TempDir tmp;
  {
    auto store = open_ok(tmp.path);
    REQUIRE(
        store->plan_table("public.t", {chunk("public.t", 0, std::nullopt, 10), chunk("public.t", 1, 10, std::nullopt)})
            .ok());
    REQUIRE(store->mark_chunk_done("public.t", 1, 42, "100:105:101,103").ok());
    auto chunks = *store->chunks("public.t");
    CHECK(chunks[0].state == ChunkState::Pending);
    CHECK(chunks[1].state == ChunkState::Done);
    CHECK(chunks[1].rows == 42);
    CHECK(chunks[1].snapshot == "100:105:101,103");
    CHECK(chunks[1].lower == 10);  // the plan's bounds are kept
    CHECK_FALSE(chunks[1].upper.has_value());
  }
  auto store = open_ok(tmp.path);  // the sequence continues after a restart
  REQUIRE(store->mark_chunk_done("public.t", 0, 7, "100:105:").ok());
  auto log = *store->chunk_log();
  REQUIRE(log.size() == 2);
  CHECK(log[0].seq == 1);
  CHECK(log[0].index == 1);
  CHECK(log[0].rows == 42);
  CHECK(log[0].unix_ms > 0);
  CHECK(log[1].seq == 2);
  CHECK(log[1].table == "public.t");
  CHECK(log[1].snapshot == "100:105:");
}

TEST_CASE("checkpoint: mark_chunk_done from 4 threads logs every chunk exactly once") {
  TempDir tmp;
  auto store = open_ok(tmp.path);
  constexpr std::uint32_t kThreads = 4;
  constexpr std::uint32_t kPerThread = 25;
  std::vector<ChunkRecord> plan;
  for (std::uint32_t i = 0; i < kThreads * kPerThread; ++i) plan.push_back(chunk("public.big", i, i * 10, i * 10 + 10));
  REQUIRE(store->plan_table("public.big", plan).ok());

  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> workers;
  for (std::uint32_t t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      for (std::uint32_t i = t; i < kThreads * kPerThread; i += kThreads) {
        if (!store->mark_chunk_done("public.big", i, i, "5:9:").ok()) ++failures[t];
      }
    });
  }
  for (auto& w : workers) w.join();
  for (int f : failures) CHECK(f == 0);

  auto log = *store->chunk_log();
  REQUIRE(log.size() == kThreads * kPerThread);
  std::set<std::uint64_t> seqs;
  std::set<std::uint32_t> indexes;
  for (std::size_t i = 0; i < log.size(); ++i) {
    seqs.insert(log[i].seq);
    indexes.insert(log[i].index);
    CHECK(log[i].seq == i + 1);  // read back in key order: dense and increasing
  }
  CHECK(seqs.size() == log.size());
  CHECK(indexes.size() == log.size());
  const auto big = store->chunks("public.big");  // named: a range-for over *temporary would dangle
  REQUIRE(big.ok());
  for (const auto& c : *big) {
    CHECK(c.state == ChunkState::Done);
    CHECK(c.rows == c.index);
  }
}

TEST_CASE("checkpoint: a second open of the same directory fails naming it") {
  TempDir tmp;
  auto first = open_ok(tmp.path);
  auto second = Store::open(tmp.path);
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().code == ErrorCode::Io);
  CHECK(second.error().message.find(tmp.path) != std::string::npos);
  CHECK(second.error().message.find("another crmsync") != std::string::npos);
  first.reset();
  CHECK(Store::open(tmp.path).ok());  // released on close
}

TEST_CASE(
    "checkpoint: a read-only open sees what a running writer recorded, never writes, and finds nothing in an empty "
    "dir") {
  TempDir tmp;
  auto none = Store::open_read_only(tmp.sub("never-ran"));
  REQUIRE(none.ok());
  CHECK(*none == nullptr);
  CHECK_FALSE(std::filesystem::exists(tmp.sub("never-ran")));  // looking creates nothing
  auto writer = open_ok(tmp.path);
  REQUIRE(writer->set_phase(Phase::Streaming).ok());
  REQUIRE(writer->set_confirmed_lsn(Lsn{0x16B3748}).ok());
  auto reader = Store::open_read_only(tmp.path);  // the writer still holds the LOCK
  REQUIRE_MESSAGE(reader.ok(), (reader.ok() ? "" : reader.error().message));
  REQUIRE(*reader != nullptr);
  CHECK((*reader)->phase().value() == Phase::Streaming);
  CHECK((*reader)->confirmed_lsn().value() == Lsn{0x16B3748});
  CHECK_FALSE((*reader)->set_phase(Phase::New).ok());
  CHECK(writer->phase().value() == Phase::Streaming);
}

TEST_CASE("checkpoint: corrupt records are reported as errors, not crashes") {
  TempDir tmp;
  {
    auto store = open_ok(tmp.path);
    REQUIRE(store->plan_table("public.t", {chunk("public.t", 0, std::nullopt, std::nullopt)}).ok());
    REQUIRE(store->mark_chunk_done("public.t", 0, 1, "1:2:").ok());
  }
  namespace r = crmsync::checkpoint::records;
  put_raw(tmp.path, std::string(r::kPhaseKey), "{not json");
  put_raw(tmp.path, std::string(r::kSourceKey), R"({"system_identifier": 5})");
  put_raw(tmp.path, std::string(r::kConfirmedLsnKey), R"("zz/top")");
  put_raw(
      tmp.path, r::chunk_key("public.t", 0),
      R"({"table":"public.t","index":-1,"kind":"whole","lower":null,"upper":null,"state":"done","rows":1,"snapshot":""})");
  put_raw(tmp.path, r::chunklog_key(1), "[]");

  auto store = open_ok(tmp.path);
  auto expect_corrupt = [&](const crmsync::Error& e, const std::string& key) {
    CHECK(e.code == ErrorCode::Io);
    CHECK(e.message.find(tmp.path) != std::string::npos);
    CHECK(e.message.find("corrupt record " + key) != std::string::npos);
  };
  expect_corrupt(store->phase().error(), std::string(r::kPhaseKey));
  expect_corrupt(store->source_identity().error(), std::string(r::kSourceKey));
  expect_corrupt(store->confirmed_lsn().error(), std::string(r::kConfirmedLsnKey));
  expect_corrupt(store->chunks().error(), r::chunk_key("public.t", 0));
  expect_corrupt(store->chunks("public.t").error(), r::chunk_key("public.t", 0));
  expect_corrupt(store->chunk_log().error(), r::chunklog_key(1));
  CHECK_FALSE(store->mark_chunk_done("public.t", 0, 1, "1:2:").ok());
  CHECK_FALSE(store->set_confirmed_lsn(Lsn{1}).ok());  // cannot tell whether it moves backwards
  CHECK(store->set_phase(Phase::Copying).ok());        // an overwrite repairs a record
  CHECK(*store->phase() == Phase::Copying);
}

TEST_CASE("checkpoint: a malformed chunk log key stops open") {
  TempDir tmp;
  put_raw(tmp.path, "chunklog/12x", "{}");
  auto store = Store::open(tmp.path);
  REQUIRE_FALSE(store.ok());
  CHECK(store.error().message.find("corrupt record chunklog/12x") != std::string::npos);
}

TEST_CASE("checkpoint: clear removes everything and restarts the log") {
  TempDir tmp;
  auto store = open_ok(tmp.path);
  REQUIRE(store->set_phase(Phase::Copying).ok());
  REQUIRE(store->set_source_identity(identity()).ok());
  REQUIRE(store->set_confirmed_lsn(Lsn{99}).ok());
  REQUIRE(store->put_meta("k", "v").ok());
  REQUIRE(store->plan_table("public.t", {chunk("public.t", 0, std::nullopt, std::nullopt)}).ok());
  REQUIRE(store->mark_chunk_done("public.t", 0, 3, "1:2:").ok());

  REQUIRE(store->clear().ok());
  CHECK(*store->phase() == Phase::New);
  CHECK_FALSE(store->source_identity()->has_value());
  CHECK_FALSE(store->confirmed_lsn()->has_value());
  CHECK_FALSE(store->get_meta("k")->has_value());
  CHECK(store->chunks()->empty());
  CHECK(store->chunk_log()->empty());
  CHECK(store->set_confirmed_lsn(Lsn{1}).ok());  // a new pipeline may start lower
  REQUIRE(store->plan_table("public.t", {chunk("public.t", 0, std::nullopt, std::nullopt)}).ok());
  REQUIRE(store->mark_chunk_done("public.t", 0, 3, "1:2:").ok());
  CHECK(store->chunk_log()->at(0).seq == 1);
}
