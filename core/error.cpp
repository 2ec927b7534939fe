#include "core/error.hpp"

namespace crmsync {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument: return "invalid argument";
    case ErrorCode::ConfigInvalid: return "invalid configuration";
    case ErrorCode::ConnectionFailed: return "connection failed";
    case ErrorCode::QueryFailed: return "query failed";
    case ErrorCode::ProtocolViolation: return "protocol violation";
    case ErrorCode::StateMismatch: return "state mismatch";
    case ErrorCode::NotImplemented: return "not implemented";
    case ErrorCode::Io: return "i/o error";
    case ErrorCode::Internal: return "internal error";
  }
  return "unknown error";
}

}  // namespace crmsync
