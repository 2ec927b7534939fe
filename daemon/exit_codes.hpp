#pragma once
// Process exit codes (DESIGN.md "Command line"). 78 is EX_CONFIG from sysexits.h: the systemd unit
// lists it in RestartPreventExitStatus so a broken config does not restart-loop.

namespace crmsync::daemon {

enum class ExitCode : int {
  Ok = 0,
  Failure = 1,
  Usage = 2,
  VerifyMismatch = 3,
  Config = 78,
};

constexpr int to_int(ExitCode code) { return static_cast<int>(code); }

}  // namespace crmsync::daemon
