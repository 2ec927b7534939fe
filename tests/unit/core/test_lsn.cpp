#include <doctest/doctest.h>

#include "core/ids.hpp"
#include "core/lsn.hpp"

using crmsync::Lsn;

TEST_CASE("Lsn parses and prints PostgreSQL's X/Y form") {
  auto lsn = Lsn::parse("16/B374D848");
  REQUIRE(lsn.ok());
  CHECK(lsn->value() == 0x16B374D848ULL);
  CHECK(lsn->to_string() == "16/B374D848");
  CHECK(fmt::format("{}", *lsn) == "16/B374D848");
}

TEST_CASE("Lsn round-trips the extremes and lower-case hex") {
  CHECK(Lsn::parse("0/0")->value() == 0);
  CHECK(Lsn::parse("0/0")->is_invalid());
  CHECK(Lsn::parse("FFFFFFFF/FFFFFFFF")->value() == UINT64_MAX);
  CHECK(Lsn::parse("a/1b")->to_string() == "A/1B");
  CHECK(Lsn{0x100000000ULL}.to_string() == "1/0");
}

TEST_CASE("Lsn rejects malformed text with a message naming it") {
  for (const char* bad : {"", "/", "1/", "/1", "16B374D848", "1/2/3", "G/0", "0/-1", "123456789/0", "0/123456789",
                          " 1/2", "1/2 ", "0x1/2", "+1/2"}) {
    auto r = Lsn::parse(bad);
    CAPTURE(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == crmsync::ErrorCode::InvalidArgument);
    CHECK(r.error().message ==
          fmt::format("invalid LSN \"{}\": expected two hex numbers as X/Y, e.g. 16/B374D848", bad));
  }
}

TEST_CASE("Lsn orders and measures distance") {
  const Lsn a{100};
  const Lsn b{250};
  CHECK(a < b);
  CHECK(b.bytes_after(a) == 150);
  CHECK(a.bytes_after(b) == 0);
  CHECK(Lsn::parse("1/0").value() > Lsn::parse("0/FFFFFFFF").value());
}

TEST_CASE("Xid and Oid are distinct strong types") {
  const crmsync::Xid xid{42};
  const crmsync::Oid oid{42};
  CHECK(xid.value() == oid.value());
  static_assert(!std::is_convertible_v<crmsync::Xid, crmsync::Oid>);
  static_assert(!std::is_convertible_v<std::uint32_t, crmsync::Xid>);
  CHECK(fmt::format("{}", oid) == "42");
  CHECK(std::hash<crmsync::Oid>{}(oid) == std::hash<std::uint32_t>{}(42));
}
