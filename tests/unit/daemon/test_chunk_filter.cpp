#include <doctest/doctest.h>

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
  CHECK(s->sees(Xid{4294967200U}));  // older than xmin: committed long before
}
