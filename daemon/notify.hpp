#pragma once
// systemd notification (sd_notify). Without NOTIFY_SOCKET (not under systemd) these do nothing.

#include <string>

namespace crmsync::daemon {

void notify_ready(const std::string& status);
void notify_status(const std::string& status);
void notify_stopping();

}  // namespace crmsync::daemon
