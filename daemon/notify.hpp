#pragma once
// systemd notification (sd_notify). Without NOTIFY_SOCKET (not under systemd) these do nothing.

#include <string>

namespace crmsync::daemon {

void notify_ready(const std::string& status);
void notify_status(const std::string& status);
void notify_stopping();
/// Whether notify_ready has been sent (a reload before it must not say READY=1).
bool notify_ready_sent();

}  // namespace crmsync::daemon
