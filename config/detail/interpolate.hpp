#pragma once
// Internal: ${VAR} and ${file:/path} in scalar values.

#include <string>
#include <string_view>
#include <vector>

#include "config/loader.hpp"

namespace crmsync::config::detail {

struct Interpolated {
  std::string value;
  bool substituted = false;         // the text had ${...} or $$: it must not be echoed in messages
  std::vector<std::string> errors;  // never contain a substituted value
};

/// How a substituted value is spliced into the text around it.
enum class Splice {
  Raw,       // as it is
  Conninfo,  // escaped for a libpq connection string: percent-encoded in a postgresql:// URI,
             // otherwise spaces, quotes and backslashes backslash-escaped (valid inside '...'
             // and in a bare value alike), so a password can neither break nor extend the string.
             // A substitution that is the whole text ("${DATABASE_URL}") is a connection string
             // of its own and is left as it is
};

/// Expands, in one left-to-right pass (a substituted value is never expanded again):
///   ${NAME}        the environment variable NAME ([A-Za-z_][A-Za-z0-9_]*); unset is an error,
///                  set-but-empty gives ""
///   ${file:/path}  the contents of the file, minus one trailing "\n" (or "\r\n"); the path must
///                  be absolute, because a daemon's working directory is not the config's folder
///   $$             a literal "$" (so "$${X}" is the literal text "${X}")
/// Any other "$" is literal, so passwords like "pa$word" need no escaping.
Interpolated interpolate(std::string_view text, const EnvLookup& env, const FileReader& files,
                         Splice splice = Splice::Raw);

}  // namespace crmsync::config::detail
