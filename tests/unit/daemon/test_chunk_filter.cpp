#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>

#include "daemon/chunk_filter.hpp"

using crmsync::Xid;
using crmsync::daemon::XidSnapshot;

TEST_CASE("xid snapshots parse and decide visibility like pg_visible_in_snapshot") {
  auto s = XidSnapshot::parse("100:110:102,105");
  REQUIRE(s.ok());
  CHECK(s->sees(Xid{99}));
  CHECK(s->sees(Xid{100}));
  CHECK(s->sees(Xid{101}));
  CHECK_FALSE(s->sees(Xid{102}));  // in progress when the snapshot was taken
  CHECK_FALSE(s->sees(Xid{105}));
  CHECK(s->sees(Xid{109}));
  CHECK_FALSE(s->sees(Xid{110}));  // started after
  CHECK_FALSE(s->sees(Xid{5000}));
  CHECK(XidSnapshot::parse("7:7:")->sees(Xid{6}));
  for (const char* bad : {"", "1", "1:2", "a:2:", "1:2:x", "1:2:3,,4"}) {
    CAPTURE(bad);
    CHECK_FALSE(XidSnapshot::parse(bad).ok());
  }
}

TEST_CASE("xid widening follows xmax's epoch across a wraparound") {
  // xmax just past an epoch boundary: epoch 1, low 10. Xid 4294967290 is from epoch 0 (old).
  const std::uint64_t epoch1 = 1ULL << 32;
  auto s = XidSnapshot::parse(std::to_string(epoch1 - 20) + ":" + std::to_string(epoch1 + 10) + ":");
  REQUIRE(s.ok());
  CHECK(s->sees(Xid{4294967290U}));  // before the boundary, committed before the snapshot
  CHECK(s->sees(Xid{5}));            // after the boundary, below xmax
  CHECK_FALSE(s->sees(Xid{11}));     // after xmax: not visible
  CHECK(s->sees(Xid{4294967200U}));  // older than xmin: committed long before (only near xmax:
                                     // the chunk snapshot bounds it by position, below)
}

namespace {

using crmsync::Lsn;
using crmsync::checkpoint::ChunkKind;
using crmsync::checkpoint::ChunkRecord;
using crmsync::checkpoint::Store;
using crmsync::daemon::ChunkFilter;
using crmsync::daemon::ChunkSnapshot;

struct FilterStore {
  std::string dir;
  std::unique_ptr<Store> store;
  FilterStore() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "crmsync-filter-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    dir = tmpl;
    auto opened = Store::open(dir + "/state");
    REQUIRE(opened.ok());
    store = std::move(opened).value();
  }
  ~FilterStore() {
    store.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  FilterStore(const FilterStore&) = delete;
  FilterStore& operator=(const FilterStore&) = delete;

  // Plans `table` as key ranges split at `bounds` and marks chunk i done at snapshots[i].
  void key_chunks(const std::string& table, const std::vector<std::int64_t>& bounds,
                  const std::vector<std::string>& snapshots) {
    std::vector<ChunkRecord> plan;
    for (std::size_t i = 0; i <= bounds.size(); ++i) {
      ChunkRecord r;
      r.table = table;
      r.index = static_cast<std::uint32_t>(i);
      r.kind = ChunkKind::KeyRange;
      r.key_column = "contact_no";
      if (i > 0) r.lower = bounds[i - 1];
      if (i < bounds.size()) r.upper = bounds[i];
      plan.push_back(r);
    }
    REQUIRE(store->plan_table(table, plan).ok());
    for (std::size_t i = 0; i < snapshots.size(); ++i) {
      REQUIRE(store->mark_chunk_done(table, static_cast<std::uint32_t>(i), 1, snapshots[i]).ok());
    }
  }
};

const Lsn kConsistent{0x1000};
const Lsn kResumed{0x5000};

}  // namespace

TEST_CASE("a chunk snapshot bounds the xid lookup by WAL position, so an aged xid is never read as old") {
  // Copied at xmax 2,400,000,000 (epoch 1). A transaction 2^31 + 100 xids later wraps the 32-bit
  // id to "older than xmin" under xid widening alone; it commits past the snapshot's position.
  const std::uint64_t xmax = (1ULL << 32) + 2'400'000'000ULL;
  auto snap = ChunkSnapshot::parse(std::to_string(xmax - 5) + ":" + std::to_string(xmax) + ": " + kResumed.to_string());
  REQUIRE(snap.ok());
  const auto aged = Xid{static_cast<std::uint32_t>(xmax + (1ULL << 31) + 100)};
  CHECK(snap->xids.sees(aged));                // the widening's reading: useless this far out
  CHECK_FALSE(snap->sees(aged, Lsn{0x9000}));  // committed past the position: not in it
  CHECK(snap->sees(Xid{static_cast<std::uint32_t>(xmax - 10)}, Lsn{0x4000}));       // committed before it
  CHECK_FALSE(snap->sees(Xid{static_cast<std::uint32_t>(xmax + 1)}, Lsn{0x4fff}));  // started after the snapshot
  CHECK_FALSE(snap->sees(Xid{static_cast<std::uint32_t>(xmax - 10)}, kResumed));    // the position itself: after
  CHECK(ChunkSnapshot::text("1:2:", Lsn{0x16B3748}) == "1:2: 0/16B3748");
  auto legacy = ChunkSnapshot::parse("100:110:102");
  REQUIRE_FALSE(legacy.ok());
  CHECK(legacy.error().message.find("older crmsync") != std::string::npos);
  CHECK_FALSE(ChunkSnapshot::parse("100:110: not-an-lsn").ok());
}

TEST_CASE("the chunk filter leaves first-run chunks out and drops a table once the stream passes it") {
  FilterStore fs;
  const auto first_run = ChunkSnapshot::text("100:110:", kConsistent);
  const auto resumed = ChunkSnapshot::text("300:310:", kResumed);
  fs.key_chunks("public.accounts", {1000, 2000}, {first_run, first_run, first_run});
  fs.key_chunks("public.contacts", {1000, 2000}, {first_run, resumed, first_run});
  auto f = ChunkFilter::load(*fs.store, kConsistent);
  REQUIRE(f.ok());
  CHECK_FALSE(f->covers("public.accounts"));  // all at the slot's snapshot: nothing to filter
  REQUIRE(f->covers("public.contacts"));
  REQUIRE(f->key_column("public.contacts") != nullptr);
  CHECK(*f->key_column("public.contacts") == "contact_no");
  // xid 200 committed between the consistent point and the resumed snapshot: chunk 1 has it.
  CHECK(f->copied_after("public.contacts", 1500, Xid{200}, Lsn{0x3000}));
  CHECK_FALSE(f->copied_after("public.contacts", 500, Xid{200}, Lsn{0x3000}));
  CHECK_FALSE(f->copied_after("public.contacts", 2500, Xid{200}, Lsn{0x3000}));
  const auto ranges = f->ranges_not_seeing("public.contacts", Xid{200}, Lsn{0x3000});
  REQUIRE(ranges.size() == 2);  // a TRUNCATE empties chunks 0 and 2 only
  CHECK((!ranges[0].lower && ranges[0].upper == 1000));
  CHECK((ranges[1].lower == 2000 && !ranges[1].upper));
  // Past the resumed snapshot everything applies, and the table leaves the filter.
  CHECK_FALSE(f->copied_after("public.contacts", 1500, Xid{200}, kResumed));
  CHECK(f->pass(Lsn{0x4fff}).empty());
  CHECK(f->pass(kResumed) == std::vector<std::string>{"public.contacts"});
  CHECK(f->empty());
  // Loaded when the stream already starts past it: never filtered.
  auto later = ChunkFilter::load(*fs.store, Lsn{0x6000});
  REQUIRE(later.ok());
  CHECK(later->empty());
}

TEST_CASE("the chunk filter refuses a checkpoint whose chunks lack the snapshot position") {
  FilterStore fs;
  fs.key_chunks("public.contacts", {}, {"100:110:"});
  auto f = ChunkFilter::load(*fs.store, kConsistent);
  REQUIRE_FALSE(f.ok());
  CHECK(f.error().message.find("public.contacts#0") != std::string::npos);
}
