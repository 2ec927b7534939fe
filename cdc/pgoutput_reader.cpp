// WireReader: the only code in the pgoutput decoder that touches raw bytes. Every read checks the
// remaining length first, so a short or lying message becomes an Error, never an out-of-bounds
// read.

#include "cdc/pgoutput.hpp"

namespace crmsync::cdc::pgoutput {

std::string Field::describe() const {
  std::string out;
  if (!scope.empty()) {
    out = fmt::format("{} ", scope);
  }
  if (column != 0) {
    out += fmt::format("column {} ", column);
  }
  out += what;
  return out;
}

std::string describe_byte(std::uint8_t byte) {
  if (byte >= 0x20 && byte < 0x7f) {
    return fmt::format("'{}' (0x{:02x})", static_cast<char>(byte), byte);
  }
  return fmt::format("0x{:02x}", byte);
}

Error WireReader::error(std::string_view detail) const {
  return Error{ErrorCode::ProtocolViolation, fmt::format("{}: {}", context_, detail)};
}

Error WireReader::truncated(std::size_t need, const Field& field) const {
  return error(fmt::format("truncated at byte {} reading {} (need {} bytes, have {})", pos_, field.describe(), need,
                           remaining()));
}

Result<std::uint64_t> WireReader::be(std::size_t n, const Field& field) {
  if (remaining() < n) {
    return truncated(n, field);
  }
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    v = (v << 8) | static_cast<unsigned char>(data_[pos_ + i]);
  }
  pos_ += n;
  return v;
}

Result<std::uint8_t> WireReader::u8(const Field& field) {
  auto v = be(1, field);
  if (!v) {
    return v.take_error();
  }
  return static_cast<std::uint8_t>(*v);
}

Result<std::int16_t> WireReader::i16(const Field& field) {
  auto v = be(2, field);
  if (!v) {
    return v.take_error();
  }
  // Two's complement reinterpretation of the 16 wire bits (well defined since C++20).
  return static_cast<std::int16_t>(static_cast<std::uint16_t>(*v));
}

Result<std::uint32_t> WireReader::u32(const Field& field) {
  auto v = be(4, field);
  if (!v) {
    return v.take_error();
  }
  return static_cast<std::uint32_t>(*v);
}

Result<std::int32_t> WireReader::i32(const Field& field) {
  auto v = u32(field);
  if (!v) {
    return v.take_error();
  }
  return static_cast<std::int32_t>(*v);
}

Result<std::uint64_t> WireReader::u64(const Field& field) {
  return be(8, field);
}

Result<std::int64_t> WireReader::i64(const Field& field) {
  auto v = be(8, field);
  if (!v) {
    return v.take_error();
  }
  return static_cast<std::int64_t>(*v);
}

Result<std::string> WireReader::cstring(const Field& field) {
  const std::size_t start = pos_;
  const auto nul = data_.find('\0', start);
  if (nul == std::string_view::npos) {
    return error(fmt::format("unterminated string at byte {} reading {} (no NUL in the remaining {} bytes)", start,
                             field.describe(), remaining()));
  }
  pos_ = nul + 1;
  return std::string(data_.substr(start, nul - start));
}

Result<std::string> WireReader::bytes(std::size_t n, const Field& field) {
  if (remaining() < n) {
    return truncated(n, field);
  }
  std::string out(data_.substr(pos_, n));
  pos_ += n;
  return out;
}

Result<std::string> WireReader::counted_bytes(const Field& length_field, const Field& bytes_field) {
  const std::size_t at = pos_;
  auto len = i32(length_field);
  if (!len) {
    return len.take_error();
  }
  if (*len < 0) {
    return error(fmt::format("negative {} {} at byte {}", length_field.describe(), *len, at));
  }
  return bytes(static_cast<std::size_t>(*len), bytes_field);
}

Status WireReader::expect_end() {
  if (remaining() != 0) {
    return error(fmt::format("{} trailing bytes after a complete message (from byte {})", remaining(), pos_));
  }
  return {};
}

}  // namespace crmsync::cdc::pgoutput
