#pragma once
// Errors on the data path. Whether an error is worth retrying (a network blip) or permanent (a
// constraint violation, a malformed message) is decided where it is raised, not guessed later.

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace crmsync {

enum class ErrorCode {
  InvalidArgument,    // malformed text from a user or a caller (an LSN, a name)
  ConfigInvalid,      // the configuration file is wrong
  ConnectionFailed,   // could not reach or authenticate to a server
  QueryFailed,        // a server rejected a statement
  ProtocolViolation,  // the replication stream or a server answered something malformed
  StateMismatch,      // checkpoint and server disagree (different cluster, missing slot, ...)
  NotImplemented,     // a command whose engine does not exist yet
  Io,                 // local files, the checkpoint store
  Internal,           // a bug in crmsync
};

enum class Retry { No, Yes };

std::string_view to_string(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::Internal;
  std::string message;
  Retry retry = Retry::No;

  [[nodiscard]] bool retryable() const { return retry == Retry::Yes; }
};

}  // namespace crmsync

template <>
struct fmt::formatter<crmsync::Error> : fmt::formatter<std::string_view> {
  template <typename Ctx>
  auto format(const crmsync::Error& e, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(e.message, ctx);
  }
};
