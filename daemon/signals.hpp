#pragma once
// SIGTERM/SIGINT request a graceful stop: the flag is polled at safe points (between chunks, every
// few thousand rows, between transactions). A second signal while stopping exits at once.

#include <atomic>

namespace crmsync::daemon {

/// Installs the handlers (idempotent).
void install_stop_handlers();
/// SIGHUP asks `crmsync run` to reload its config (daemon/reload.hpp) instead of ending it.
void install_reload_handler();
/// True once per SIGHUP (or several that came together).
bool take_reload_request();
/// True once SIGTERM or SIGINT has arrived.
bool stop_requested();
/// For tests and internal shutdown paths.
void request_stop();
/// A stop that no restart cures (the slot was lost): `run` exits 65 once the pipeline has stopped.
void request_fatal_stop();
bool fatal_stop_requested();

}  // namespace crmsync::daemon
