#pragma once
// The streaming replication protocol's CopyBoth framing (PostgreSQL docs, "Streaming Replication
// Protocol"): what the server sends inside CopyData, and the standby status update we send back.
//
//   XLogData          'w' Int64 walStart, Int64 walEnd, Int64 sendTime, Byte[n] payload (pgoutput)
//   Keepalive         'k' Int64 walEnd, Int64 sendTime, Byte1 replyRequested
//   Status update     'r' Int64 written+1, Int64 flushed+1, Int64 applied+1, Int64 clock, Byte1 replyRequested
//                     (positions are "last byte + 1", i.e. the LSN to resume from)
// Times are microseconds since 2000-01-01 00:00 UTC. All integers are big-endian.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "core/lsn.hpp"
#include "core/result.hpp"

namespace crmsync::cdc {

struct XLogData {
  Lsn wal_start;
  Lsn wal_end;
  std::int64_t send_time_us = 0;
  std::string_view payload;  // points into the CopyData buffer
};

struct Keepalive {
  Lsn wal_end;
  std::int64_t send_time_us = 0;
  bool reply_requested = false;
};

using ServerMessage = std::variant<XLogData, Keepalive>;

/// Parses one CopyData message from the walsender. Bounds-checked; unknown kinds are errors.
Result<ServerMessage> parse_server_message(std::string_view data);

/// A standby status update reporting written/flushed/applied positions.
std::string standby_status_update(Lsn written, Lsn flushed, Lsn applied, std::int64_t now_us, bool reply_requested);

/// Microseconds since the PostgreSQL epoch (2000-01-01 UTC) for a system clock time point.
std::int64_t to_pg_time(std::chrono::system_clock::time_point t);
std::chrono::system_clock::time_point from_pg_time(std::int64_t us);

}  // namespace crmsync::cdc
