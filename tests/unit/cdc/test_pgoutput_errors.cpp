// Hand-built pgoutput messages: corrupt ones must yield exactly the error we define (message type,
// field, byte offset), valid edge cases must decode exactly.

#include <doctest/doctest.h>

#include <string>

#include "tests/unit/cdc/pgoutput_support.hpp"

namespace pgo = crmsync::cdc::pgoutput;
using crmsync::Lsn;
using crmsync::Oid;
using crmsync::Row;
using crmsync::Value;
using crmsync::Xid;
using pgo::test::Bytes;
using pgo::test::decode_as;
using pgo::test::decode_error;

TEST_CASE("pgoutput errors: empty message and unknown or unrequested type bytes") {
  CHECK(decode_error("") == "pgoutput: empty message");
  CHECK(decode_error("X") == "pgoutput: message type 'X' (0x58) at byte 0: unknown message type");
  CHECK(decode_error(std::string_view("\x05\x00", 2)) == "pgoutput: message type 0x05 at byte 0: unknown message type");
  CHECK(decode_error("\xff") == "pgoutput: message type 0xff at byte 0: unknown message type");
  CHECK(decode_error(Bytes('S').u32(7).u8(1)) ==
        "pgoutput: message type 'S' (0x53) at byte 0: Stream Start: streaming of in-progress transactions was not "
        "requested");
  CHECK(decode_error("c") ==
        "pgoutput: message type 'c' (0x63) at byte 0: Stream Commit: streaming of in-progress transactions was not "
        "requested");
  CHECK(decode_error("P") ==
        "pgoutput: message type 'P' (0x50) at byte 0: Prepare: two-phase decoding was not requested");
}

TEST_CASE("pgoutput errors: negative lengths and counts") {
  CHECK(decode_error(Bytes('I').u32(1).u8('N').i16(1).u8('t').i32(-5)) ==
        "pgoutput Insert: negative new tuple column 1 length -5 at byte 9");
  CHECK(decode_error(Bytes('I').u32(1).u8('N').i16(-1)) ==
        "pgoutput Insert: negative new tuple column count -1 at byte 6");
  CHECK(decode_error(Bytes('R').u32(1).cstr("s").cstr("t").u8('d').i16(-2)) ==
        "pgoutput Relation: negative column count -2 at byte 10");
  CHECK(decode_error(Bytes('T').i32(-1).u8(0)) == "pgoutput Truncate: negative relation count -1 at byte 1");
  CHECK(decode_error(Bytes('M').u8(1).u64(1).cstr("p").i32(-1)) ==
        "pgoutput Message: negative content length -1 at byte 12");
}

TEST_CASE("pgoutput errors: counts larger than the remaining bytes are refused before allocating") {
  CHECK(decode_error(Bytes('I').u32(1).u8('N').i16(32767).raw("nnn")) ==
        "pgoutput Insert: new tuple column count 32767 at byte 6 exceeds the remaining 3 bytes (each column takes at "
        "least 1)");
  CHECK(decode_error(Bytes('R').u32(1).cstr("s").cstr("t").u8('d').i16(1000).raw(std::string(19, 'x'))) ==
        "pgoutput Relation: column count 1000 at byte 10 exceeds the remaining 19 bytes (each column takes at least "
        "10)");
  CHECK(decode_error(Bytes('T').i32(1000000).u8(0).u32(1)) ==
        "pgoutput Truncate: relation count 1000000 at byte 1 exceeds the remaining 4 bytes (4 per relation)");
  CHECK(decode_error(Bytes('T').i32(0x7fffffff).u8(3)) ==
        "pgoutput Truncate: relation count 2147483647 at byte 1 exceeds the remaining 0 bytes (4 per relation)");
  CHECK(decode_error(Bytes('I').u32(1).u8('N').i16(1).u8('t').i32(0x7fffffff).raw("ab")) ==
        "pgoutput Insert: truncated at byte 13 reading new tuple column 1 value (need 2147483647 bytes, have 2)");
  CHECK(decode_error(Bytes('M').u8(0).u64(1).cstr("p").i32(10).raw("abc")) ==
        "pgoutput Message: truncated at byte 16 reading content (need 10 bytes, have 3)");
}

TEST_CASE("pgoutput errors: strings without their NUL terminator") {
  CHECK(decode_error(Bytes('R').u32(1).raw("public")) ==
        "pgoutput Relation: unterminated string at byte 5 reading namespace (no NUL in the remaining 6 bytes)");
  CHECK(decode_error(Bytes('R').u32(1).cstr("s").cstr("t").u8('d').i16(1).u8(0).raw("abcdefghijkl")) ==
        "pgoutput Relation: unterminated string at byte 13 reading column 1 name (no NUL in the remaining 12 bytes)");
  CHECK(decode_error(Bytes('Y').u32(1).cstr("public").raw("mo")) ==
        "pgoutput Type: unterminated string at byte 12 reading type name (no NUL in the remaining 2 bytes)");
  CHECK(decode_error(Bytes('O').u64(1).raw("x")) ==
        "pgoutput Origin: unterminated string at byte 9 reading origin name (no NUL in the remaining 1 bytes)");
  CHECK(decode_error(Bytes('M').u8(1).u64(1).raw("prefix")) ==
        "pgoutput Message: unterminated string at byte 10 reading prefix (no NUL in the remaining 6 bytes)");
}

TEST_CASE("pgoutput errors: trailing bytes after a complete message") {
  CHECK(decode_error(Bytes('B').u64(1).i64(2).u32(3).raw("xyz")) ==
        "pgoutput Begin: 3 trailing bytes after a complete message (from byte 21)");
  CHECK(decode_error(Bytes('C').u8(0).u64(1).u64(2).i64(3).u8(0)) ==
        "pgoutput Commit: 1 trailing bytes after a complete message (from byte 26)");
  CHECK(decode_error(Bytes('I').u32(1).u8('N').i16(1).u8('n').u8('n')) ==
        "pgoutput Insert: 1 trailing bytes after a complete message (from byte 9)");
}

TEST_CASE("pgoutput errors: tuple column kinds") {
  CHECK(decode_error(Bytes('I').u32(1).u8('N').i16(2).text("1").u8('b').i32(4).u32(1)) ==
        "pgoutput Insert: binary tuple data was not requested (new tuple column 2 has kind 'b' at byte 14)");
  CHECK(decode_error(Bytes('I').u32(1).u8('N').i16(1).u8('x')) ==
        "pgoutput Insert: unknown new tuple column 1 kind 'x' (0x78) at byte 8 (expected 'n', 'u' or 't')");
  CHECK(decode_error(Bytes('D').u32(1).u8('O').i16(2).u8('n').u8(0)) ==
        "pgoutput Delete: unknown old tuple column 2 kind 0x00 at byte 9 (expected 'n', 'u' or 't')");
  CHECK(decode_error(Bytes('U').u32(1).u8('K').i16(1).u8('t').i32(5).raw("ab")) ==
        "pgoutput Update: truncated at byte 13 reading key tuple column 1 value (need 5 bytes, have 2)");
}

TEST_CASE("pgoutput errors: wrong submessage tags") {
  CHECK(decode_error(Bytes('I').u32(1).u8('K').i16(0)) ==
        "pgoutput Insert: expected 'N' (new tuple) at byte 5, got 'K' (0x4b)");
  CHECK(decode_error(Bytes('U').u32(1).u8('X')) ==
        "pgoutput Update: expected 'K' (key), 'O' (old row) or 'N' (new tuple) at byte 5, got 'X' (0x58)");
  CHECK(decode_error(Bytes('U').u32(1).u8('K').i16(1).u8('n').u8('O').i16(0)) ==
        "pgoutput Update: expected 'N' (new tuple) at byte 9, got 'O' (0x4f)");
  CHECK(decode_error(Bytes('D').u32(1).u8('N').i16(0)) ==
        "pgoutput Delete: expected 'K' (key) or 'O' (old row) at byte 5, got 'N' (0x4e)");
  CHECK(decode_error(Bytes('U').u32(1)) ==
        "pgoutput Update: truncated at byte 5 reading tuple tag (need 1 bytes, have 0)");
}

TEST_CASE("pgoutput errors: undefined flag bits and enum values") {
  CHECK(decode_error(Bytes('R').u32(1).cstr("s").cstr("t").u8('x').i16(0)) ==
        "pgoutput Relation: unknown replica identity 'x' (0x78) at byte 9 (expected 'd', 'n', 'f' or 'i')");
  CHECK(decode_error(Bytes('R').u32(1).cstr("s").cstr("t").u8('d').i16(1).u8(2).cstr("c").u32(23).i32(-1)) ==
        "pgoutput Relation: unknown flags 0x02 for column 1 at byte 12 (only 1 = key is defined)");
  CHECK(decode_error(Bytes('T').i32(0).u8(4)) ==
        "pgoutput Truncate: unknown options 0x04 at byte 5 (only 1 = CASCADE, 2 = RESTART IDENTITY are defined)");
  CHECK(decode_error(Bytes('M').u8(2).u64(1).cstr("p").i32(0)) ==
        "pgoutput Message: unknown flags 0x02 at byte 1 (only 1 = transactional is defined)");
}

TEST_CASE("pgoutput: valid edge cases decode exactly") {
  CHECK(decode_as<pgo::Begin>(Bytes('B').u64(UINT64_MAX).i64(-1).u32(UINT32_MAX)) ==
        pgo::Begin{Lsn{UINT64_MAX}, -1, Xid{UINT32_MAX}});
  CHECK(decode_as<pgo::Commit>(Bytes('C').u8(0).u64(0x16B374D848).u64(0x16B374D880).i64(1)) ==
        pgo::Commit{0, Lsn{0x16B374D848}, Lsn{0x16B374D880}, 1});
  CHECK(decode_as<pgo::Origin>(Bytes('O').u64(5).cstr("")) == pgo::Origin{Lsn{5}, ""});

  // pg_catalog's namespace is sent as "", zero columns is legal, 'i' and 'n' identities.
  const auto rel = decode_as<pgo::RelationMessage>(Bytes('R').u32(42).cstr("").cstr("t").u8('i').i16(0)).relation;
  CHECK(rel == crmsync::Relation{Oid{42}, "", "t", crmsync::RelReplIdent::Index, {}});
  CHECK(
      decode_as<pgo::RelationMessage>(Bytes('R').u32(1).cstr("s").cstr("t").u8('n').i16(0)).relation.replica_identity ==
      crmsync::RelReplIdent::Nothing);
  CHECK(decode_as<pgo::TypeMessage>(Bytes('Y').u32(16400).cstr("s").cstr("mood")) ==
        pgo::TypeMessage{Oid{16400}, "s", "mood"});

  // Empty tuples, empty text, embedded NUL bytes, all three kinds.
  CHECK(decode_as<pgo::Insert>(Bytes('I').u32(7).u8('N').i16(0)) == pgo::Insert{Oid{7}, {}});
  const std::string with_nul("a\0b", 3);
  CHECK(decode_as<pgo::Insert>(Bytes('I').u32(7).u8('N').i16(4).text("").text(with_nul).u8('n').u8('u')).new_row ==
        Row{Value::of(""), Value::of(with_nul), Value::null(), Value::unchanged_toast()});
  CHECK(decode_as<pgo::Update>(Bytes('U').u32(7).u8('O').i16(1).text("a").u8('N').i16(1).text("b")) ==
        pgo::Update{Oid{7}, pgo::OldKind::Full, {Value::of("a")}, {Value::of("b")}});

  CHECK(decode_as<pgo::Truncate>(Bytes('T').i32(0).u8(0)) == pgo::Truncate{false, false, {}});
  CHECK(decode_as<pgo::Truncate>(Bytes('T').i32(2).u8(1).u32(10).u32(11)) ==
        pgo::Truncate{true, false, {Oid{10}, Oid{11}}});
  CHECK(decode_as<pgo::Truncate>(Bytes('T').i32(1).u8(2).u32(10)) == pgo::Truncate{false, true, {Oid{10}}});

  const std::string binary("\x00\xff\x00", 3);
  CHECK(decode_as<pgo::LogicalMessage>(Bytes('M').u8(0).u64(9).cstr("").i32(3).raw(binary)) ==
        pgo::LogicalMessage{false, Lsn{9}, "", binary});
}

TEST_CASE("pgoutput: message_name names every alternative") {
  CHECK(pgo::message_name(pgo::Begin{}) == "Begin");
  CHECK(pgo::message_name(pgo::Commit{}) == "Commit");
  CHECK(pgo::message_name(pgo::Origin{}) == "Origin");
  CHECK(pgo::message_name(pgo::RelationMessage{}) == "Relation");
  CHECK(pgo::message_name(pgo::TypeMessage{}) == "Type");
  CHECK(pgo::message_name(pgo::Insert{}) == "Insert");
  CHECK(pgo::message_name(pgo::Update{}) == "Update");
  CHECK(pgo::message_name(pgo::Delete{}) == "Delete");
  CHECK(pgo::message_name(pgo::Truncate{}) == "Truncate");
  CHECK(pgo::message_name(pgo::LogicalMessage{}) == "Message");
}

TEST_CASE("pgoutput WireReader: big-endian, signed, offsets, strings") {
  const std::string data(
      "\xff\xfe\x80\x00\x00\x00\x01\x02\x03\x04\x05\x06\x07\x08"
      "\x09hi\0z",
      19);
  pgo::WireReader r(data, "ctx");
  CHECK(*r.i16("a") == -2);
  CHECK(*r.i32("b") == INT32_MIN);
  CHECK(r.offset() == 6);
  CHECK(*r.u64("c") == 0x0102030405060708ULL);
  CHECK(*r.u8("d") == 9);
  CHECK(*r.cstring("e") == "hi");
  CHECK(r.offset() == 18);
  CHECK(r.remaining() == 1);
  auto st = r.expect_end();
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message == "ctx: 1 trailing bytes after a complete message (from byte 18)");
  auto bad = r.i32(pgo::Field("new tuple", 3, "length"));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message == "ctx: truncated at byte 18 reading new tuple column 3 length (need 4 bytes, have 1)");
  CHECK(r.offset() == 18);  // a failed read consumes nothing
  CHECK(*r.bytes(1, "f") == "z");
  CHECK(r.expect_end().ok());
}

TEST_CASE("pgoutput: single-byte corruptions of the fixtures never crash") {
  std::size_t decoded = 0;
  for (const auto& f : pgo::test::load_fixtures()) {
    if (f.bytes.size() > 512) continue;
    for (std::size_t i = 0; i < f.bytes.size(); ++i) {
      for (unsigned char v : {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff}) {
        std::string copy = f.bytes;
        copy[i] = static_cast<char>(v);
        auto r = pgo::decode(copy);
        decoded += r.ok() ? 1 : 0;
        if (!r) CHECK(r.error().code == crmsync::ErrorCode::ProtocolViolation);
      }
    }
  }
  CHECK(decoded > 0);  // plenty of corruptions land in values and still decode
}
