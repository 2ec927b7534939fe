#include "daemon/signals.hpp"

#include <unistd.h>

#include <csignal>

namespace crmsync::daemon {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_fatal{false};
std::atomic<bool> g_reload{false};

extern "C" void on_reload_signal(int) {
  g_reload.store(true);
}

extern "C" void on_stop_signal(int) {
  if (g_stop.exchange(true)) {
    _exit(128 + SIGTERM);  // second signal: the operator insists
  }
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: blocking waits should wake up and look at the flag
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

void install_reload_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_reload_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // nothing waits on it: the monitor polls the flag
  sigaction(SIGHUP, &sa, nullptr);
}

bool take_reload_request() {
  return g_reload.exchange(false);
}

bool stop_requested() {
  return g_stop.load(std::memory_order_relaxed);
}
void request_stop() {
  g_stop.store(true);
}
void request_fatal_stop() {
  g_fatal.store(true);
  g_stop.store(true);
}
bool fatal_stop_requested() {
  return g_fatal.load();
}

}  // namespace crmsync::daemon
