#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "checkpoint/records.hpp"

using crmsync::Lsn;
using namespace crmsync::checkpoint;
namespace r = crmsync::checkpoint::records;

namespace {
// A valid chunk record with one field replaced by `field` (e.g. R"("index":4294967296)").
std::string chunk_json(const std::string& index, const std::string& lower) {
  return R"({"table":"t","index":)" + index + R"(,"kind":"whole","lower":)" + lower +
         R"(,"upper":null,"state":"done","rows":1,"snapshot":""})";
}
}  // namespace

TEST_CASE("checkpoint: records round-trip at the limits of their fields") {
  ChunkRecord c{"public.t",
                std::numeric_limits<std::uint32_t>::max(),
                ChunkKind::CtidRange,
                std::numeric_limits<std::int64_t>::min(),
                std::numeric_limits<std::int64_t>::max(),
                ChunkState::Done,
                12,
                "1:2: 0/16B3748",
                "contact_no"};
  CHECK(*r::decode_chunk(*r::encode_chunk(c)) == c);
  // Records of versions before the chunk column was recorded decode with none.
  auto old = r::decode_chunk(chunk_json("1", "null"));
  REQUIRE(old.ok());
  CHECK(old->key_column.empty());

  const SourceIdentity s{"7301234567890123456", 3, "slot", "pub", Lsn{0xFFFFFFFFFFFFFFFFULL}};
  CHECK(*r::decode_source(*r::encode_source(s)) == s);

  const ChunkLogEntry e{std::numeric_limits<std::uint64_t>::max(), "public.t", 7, 99, "5:9:6", 1700000000000};
  auto back = *r::decode_chunk_log(*r::encode_chunk_log(e));
  CHECK(back.seq == e.seq);
  CHECK(back.unix_ms == e.unix_ms);

  for (auto p : {Phase::New, Phase::Copying, Phase::Streaming}) CHECK(*r::decode_phase(*r::encode_phase(p)) == p);
  CHECK(*r::decode_lsn(*r::encode_lsn(Lsn{0x16B374D848ULL})) == Lsn{0x16B374D848ULL});
}

TEST_CASE("checkpoint: record keys are zero-padded and parsed strictly") {
  CHECK(r::chunk_key("public.t", 3) == "chunk/public.t/0000000003");
  CHECK(r::chunklog_key(12) == "chunklog/00000000000000000012");
  CHECK(r::parse_chunklog_seq("chunklog/00000000000000000012") == 12U);
  CHECK_FALSE(r::parse_chunklog_seq("chunklog/12").has_value());
  CHECK(r::is_chunk_key_under("chunk/a/0000000001", "chunk/a/"));
  CHECK_FALSE(r::is_chunk_key_under("chunk/a/b/0000000001", "chunk/a/"));  // belongs to table "a/b"
}

TEST_CASE("checkpoint: record decoders reject wrong types and out-of-range numbers") {
  CHECK(r::decode_chunk(chunk_json("1", "null")).ok());
  CHECK(r::decode_chunk(chunk_json("4294967296", "null")).error().message.find("\"index\"") != std::string::npos);
  CHECK_FALSE(r::decode_chunk(chunk_json("-1", "null")).ok());
  CHECK_FALSE(r::decode_chunk(chunk_json("1", "1.5")).ok());
  CHECK_FALSE(r::decode_chunk(chunk_json("1", "9223372036854775808")).ok());
  CHECK_FALSE(r::decode_chunk(chunk_json("1", "\"7\"")).ok());
  CHECK_FALSE(r::decode_chunk(R"({"table":"t"})").ok());  // missing fields
  CHECK_FALSE(r::decode_chunk("[1,2]").ok());
  CHECK_FALSE(r::decode_phase("\"paused\"").ok());
  CHECK_FALSE(r::decode_lsn("\"16-B3\"").ok());
  CHECK_FALSE(r::decode_source(R"({"system_identifier":"1","timeline":1,"slot":"s","publication":"p"})").ok());
  CHECK(r::encode_chunk(ChunkRecord{.table = "bad\xff"}).error().code == crmsync::ErrorCode::InvalidArgument);
}
