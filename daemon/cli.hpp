#pragma once

namespace crmsync::daemon {

/// Parses the command line, loads the config, runs the subcommand; returns the exit code.
int run_cli(int argc, char** argv);

}  // namespace crmsync::daemon
