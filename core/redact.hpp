#pragma once
// Secrets never reach a log line or a status output. These helpers turn a libpq connection string
// (key=value form or postgres:// URI) into something safe to print.

#include <string>
#include <string_view>

namespace crmsync {

/// The connection string with every password (and sslpassword) value replaced by "********".
/// Handles key=value strings (quoted or not) and postgres:// / postgresql:// URIs, including
/// "user:secret@host" and "?password=secret".
std::string redact_dsn(std::string_view dsn);

}  // namespace crmsync
