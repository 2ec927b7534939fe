#pragma once
// Process exit codes (DESIGN.md "Command line"). 65 (EX_DATAERR) and 78 (EX_CONFIG) are from
// sysexits.h; the systemd unit lists both in RestartPreventExitStatus, so that an error restarting
// cannot heal does not restart-loop while the slot pins WAL on the production source. 1 is left
// for failures a restart may well cure (a server unreachable at start, a lost connection).

namespace crmsync::daemon {

enum class ExitCode : int {
  Ok = 0,
  Failure = 1,
  Usage = 2,
  VerifyMismatch = 3,
  Permanent = 65,  // an operator must act: bad data, a schema mismatch, a missing privilege, a refusal, an
                   // error that repeated at the same position; the message says what to do
  Config = 78,
};

constexpr int to_int(ExitCode code) {
  return static_cast<int>(code);
}

}  // namespace crmsync::daemon
