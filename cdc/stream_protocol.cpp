#include "cdc/stream_protocol.hpp"

#include <fmt/format.h>

namespace crmsync::cdc {
namespace {

// 2000-01-01 00:00:00 UTC in microseconds since the Unix epoch.
constexpr std::int64_t kPgEpochUnixUs = 946'684'800LL * 1'000'000LL;

std::uint64_t read_u64(std::string_view d, std::size_t at) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(d[at + i]);
  return v;
}

void write_u64(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}

Error malformed(char kind, std::size_t need, std::size_t have) {
  return Error{ErrorCode::ProtocolViolation,
               fmt::format("replication stream: '{}' message is {} bytes, expected at least {}", kind, have, need)};
}

}  // namespace

Result<ServerMessage> parse_server_message(std::string_view data) {
  if (data.empty()) {
    return Error{ErrorCode::ProtocolViolation, "replication stream: empty CopyData message"};
  }
  switch (data[0]) {
    case 'w': {
      constexpr std::size_t kHeader = 1 + 8 + 8 + 8;
      if (data.size() < kHeader) return malformed('w', kHeader, data.size());
      return ServerMessage{XLogData{Lsn{read_u64(data, 1)}, Lsn{read_u64(data, 9)},
                                    static_cast<std::int64_t>(read_u64(data, 17)), data.substr(kHeader)}};
    }
    case 'k': {
      constexpr std::size_t kSize = 1 + 8 + 8 + 1;
      if (data.size() < kSize) return malformed('k', kSize, data.size());
      return ServerMessage{
          Keepalive{Lsn{read_u64(data, 1)}, static_cast<std::int64_t>(read_u64(data, 9)), data[17] != 0}};
    }
    default:
      return Error{ErrorCode::ProtocolViolation,
                   fmt::format("replication stream: unknown CopyData message kind 0x{:02x}",
                               static_cast<unsigned char>(data[0]))};
  }
}

std::string standby_status_update(Lsn written, Lsn flushed, Lsn applied, std::int64_t now_us, bool reply_requested) {
  std::string out;
  out.reserve(34);
  out.push_back('r');
  write_u64(out, written.value());
  write_u64(out, flushed.value());
  write_u64(out, applied.value());
  write_u64(out, static_cast<std::uint64_t>(now_us));
  out.push_back(reply_requested ? 1 : 0);
  return out;
}

std::int64_t to_pg_time(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count() - kPgEpochUnixUs;
}

std::chrono::system_clock::time_point from_pg_time(std::int64_t us) {
  return std::chrono::system_clock::time_point(std::chrono::microseconds(us + kPgEpochUnixUs));
}

}  // namespace crmsync::cdc
