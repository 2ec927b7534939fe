#pragma once
// Numbers as people read them, shared by systemd's STATUS= line and `crmsync status`.

#include <cstdint>
#include <string>

namespace crmsync::telemetry {

/// "1,530": thousands separated, rounded to a whole number (negative reads as 0).
std::string grouped(double v);
/// "12 ms", "3.4 s", "17 min", "2.5 h".
std::string duration_text(double seconds);
/// "512 B", "12.3 MB", "1.2 GB" (1024-based, as the config's sizes).
std::string bytes_text(std::int64_t bytes);

}  // namespace crmsync::telemetry
