#pragma once
// Shared by the pgoutput unit tests: loading the golden fixtures and building messages by hand.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "cdc/pgoutput.hpp"

namespace crmsync::cdc::pgoutput::test {

struct Fixture {
  std::string name;  // "004_insert.bin"
  std::string bytes;
};

inline std::filesystem::path fixture_dir() {
  return std::filesystem::path(CRMSYNC_SOURCE_DIR) / "tests" / "fixtures" / "pgoutput";
}

/// Every tests/fixtures/pgoutput/*.bin, sorted by name (= stream order).
inline std::vector<Fixture> load_fixtures() {
  std::vector<Fixture> out;
  for (const auto& entry : std::filesystem::directory_iterator(fixture_dir())) {
    if (entry.path().extension() != ".bin") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    REQUIRE(in.good());
    out.push_back({entry.path().filename().string(),
                   std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>())});
  }
  std::sort(out.begin(), out.end(), [](const Fixture& a, const Fixture& b) { return a.name < b.name; });
  return out;
}

/// Big-endian message builder for hand-made (often corrupt) messages.
class Bytes {
 public:
  explicit Bytes(char type) { s_.push_back(type); }
  Bytes& u8(std::uint8_t v) { return be(v, 1); }
  Bytes& i16(std::int16_t v) { return be(static_cast<std::uint16_t>(v), 2); }
  Bytes& i32(std::int32_t v) { return be(static_cast<std::uint32_t>(v), 4); }
  Bytes& u32(std::uint32_t v) { return be(v, 4); }
  Bytes& u64(std::uint64_t v) { return be(v, 8); }
  Bytes& i64(std::int64_t v) { return be(static_cast<std::uint64_t>(v), 8); }
  Bytes& cstr(std::string_view v) { return raw(v).u8(0); }  // NUL-terminated
  Bytes& raw(std::string_view v) {
    s_.append(v);
    return *this;
  }
  Bytes& text(std::string_view v) {  // a 't' tuple column
    return u8('t').i32(static_cast<std::int32_t>(v.size())).raw(v);
  }
  [[nodiscard]] const std::string& str() const { return s_; }
  operator std::string_view() const { return s_; }  // NOLINT(google-explicit-constructor)

 private:
  Bytes& be(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) s_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    return *this;
  }
  std::string s_;
};

/// Decodes and requires success and the given alternative.
template <typename T>
T decode_as(std::string_view bytes) {
  auto r = decode(bytes);
  if (!r) FAIL("decode failed: " << r.error().message);
  REQUIRE(std::holds_alternative<T>(*r));
  return std::get<T>(std::move(*r));
}

/// Decodes and requires a ProtocolViolation; returns its message.
inline std::string decode_error(std::string_view bytes) {
  auto r = decode(bytes);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::ProtocolViolation);
  CHECK_FALSE(r.error().retryable());
  return r.error().message;
}

}  // namespace crmsync::cdc::pgoutput::test
