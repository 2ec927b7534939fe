#include "daemon/notify.hpp"

#include <systemd/sd-daemon.h>

#include <atomic>

namespace crmsync::daemon {

namespace {
std::atomic<bool> g_ready{false};
}

void notify_ready(const std::string& status) {
  g_ready.store(true);
  sd_notifyf(0, "READY=1\nSTATUS=%s", status.c_str());
}
bool notify_ready_sent() {
  return g_ready.load();
}
void notify_status(const std::string& status) {
  sd_notifyf(0, "STATUS=%s", status.c_str());
}
void notify_stopping() {
  sd_notify(0, "STOPPING=1");
}

}  // namespace crmsync::daemon
