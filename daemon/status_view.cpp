// The human view of `crmsync status`: a few labelled lines, then one row per table of the copy.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "daemon/status_command.hpp"
#include "telemetry/format.hpp"

namespace crmsync::daemon {
namespace {

using nlohmann::json;
using telemetry::bytes_text;
using telemetry::duration_text;
using telemetry::grouped;

// Values from the document, tolerant of a missing field (an older or newer daemon).
double num(const json& j, const char* key, double fallback = 0) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}
// Text from the document goes to a terminal: control characters (an escape sequence in a table
// name or an error message from the source) are shown as '?', never sent.
std::string str(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return "";
  auto s = it->get<std::string>();
  for (auto& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return s;
}
bool flag(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}
// A byte count, whatever the document holds (a huge or negative double casts to nonsense).
std::int64_t bytes(const json& j, const char* key) {
  const double v = num(j, key);
  return v > 0 && v < 9.0e18 ? static_cast<std::int64_t>(v) : 0;
}
const json& obj(const json& j, const char* key) {
  static const json empty = json::object();
  const auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : empty;
}

std::string bar(double fraction, int width) {
  const int filled = static_cast<int>(std::lround(std::clamp(fraction, 0.0, 1.0) * width));
  return "[" + std::string(static_cast<std::size_t>(filled), '#') +
         std::string(static_cast<std::size_t>(width - filled), '-') + "]";
}

std::string pad(const std::string& s, std::size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

void line(std::string& out, const char* label, const std::string& value) {
  out += fmt::format("  {:<13}{}\n", label, value);
}

std::string copy_table(const json& copy) {
  const std::vector<std::string> head = {"TABLE", "PROGRESS", "ROWS", "CHUNKS", "RATE", "ETA"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : copy) {
    const double done = num(t, "rows_done"), total = num(t, "rows_total");
    const bool finished = flag(t, "done");
    // Rows sent run ahead of chunks committed: a table is 100% only when its last chunk is.
    const double fraction = finished ? 1.0 : total > 0 ? std::min(done / total, 0.99) : 0.0;
    const auto eta = t.find("eta_s");
    rows.push_back({str(t, "table"), fmt::format("{} {:>3.0f}%", bar(fraction, 20), fraction * 100),
                    fmt::format("{}/{}", grouped(done), finished ? grouped(done) : "~" + grouped(total)),
                    fmt::format("{}/{}", num(t, "chunks_done"), num(t, "chunks_total")),
                    finished ? "done" : fmt::format("{} rows/s", grouped(num(t, "rows_per_s"))),
                    finished                             ? ""
                    : eta != t.end() && eta->is_number() ? duration_text(eta->get<double>())
                                                         : "?"});
  }
  std::vector<std::size_t> width(head.size());
  for (std::size_t c = 0; c < head.size(); ++c) {
    width[c] = head[c].size();
    for (const auto& r : rows) width[c] = std::max(width[c], r[c].size());
  }
  auto render = [&](const std::vector<std::string>& r) {
    std::string s = " ";
    for (std::size_t c = 0; c < r.size(); ++c) s += " " + (c + 1 < r.size() ? pad(r[c], width[c]) : r[c]);
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s + "\n";
  };
  std::string out = render(head);
  for (const auto& r : rows) out += render(r);
  return out;
}

}  // namespace

std::string render_status(const json& s) {
  std::string out;
  const auto& daemon = obj(s, "daemon");
  const bool running = flag(daemon, "running");
  out += fmt::format("pipeline {}: {}", str(s, "pipeline"), str(s, "phase"));
  out += running ? fmt::format(" (daemon at {}, since {})\n", str(daemon, "address"), str(s, "started_at"))
                 : fmt::format(" (daemon not running; checkpoint phase {})\n", str(daemon, "checkpoint_phase"));
  if (!running) line(out, "why", str(daemon, "why"));
  const auto& ready = obj(s, "ready");
  line(out, "ready",
       flag(ready, "ready") ? (str(ready, "reason").empty() ? "yes" : "yes; " + str(ready, "reason"))
                            : "no: " + str(ready, "reason"));
  const auto& lag = obj(s, "lag");
  std::string lag_text = running ? fmt::format("{}, {} of WAL behind the source", duration_text(num(lag, "seconds")),
                                               bytes_text(bytes(lag, "bytes")))
                                 : fmt::format("{} of WAL behind the source", bytes_text(bytes(lag, "bytes")));
  if (lag.contains("heartbeat_age_seconds")) {
    lag_text += fmt::format(" (last heartbeat {} ago)", duration_text(num(lag, "heartbeat_age_seconds")));
  }
  line(out, "lag", lag_text);
  if (const auto& rates = obj(s, "rates"); !rates.empty()) {
    line(out, "rates",
         fmt::format("{} changes/s, {} transactions/s", grouped(num(rates, "changes_per_s")),
                     grouped(num(rates, "transactions_per_s"))));
  }
  const auto& pos = obj(s, "positions");
  line(out, "positions",
       fmt::format("applied {}, confirmed {}, source {}", str(pos, "applied"), str(pos, "confirmed"),
                   str(pos, "source_wal")));
  const auto& slot = obj(s, "slot");
  if (!flag(slot, "found")) {
    line(out, "slot", fmt::format("{}: not found on the source (or the source did not answer)", str(slot, "name")));
  } else {
    const auto safe = slot.find("safe_wal_size_bytes");
    line(out, "slot",
         fmt::format(
             "{}: {}, retains {} (limit {}{}), safe_wal_size {}", str(slot, "name"), str(slot, "wal_status"),
             bytes_text(bytes(slot, "retained_wal_bytes")), bytes_text(bytes(slot, "max_retained_wal_bytes")),
             flag(slot, "over_limit") ? ", OVER" : "",
             safe != slot.end() && safe->is_number() ? bytes_text(bytes(slot, "safe_wal_size_bytes")) : "unlimited"));
  }
  const auto& letters = obj(s, "dead_letters");
  std::vector<std::string> parts;
  for (const auto& [table, n] : obj(letters, "by_table").items()) {
    parts.push_back(fmt::format("{} {}", str(json{{"t", table}}, "t"), n.is_number() ? grouped(n.get<double>()) : "?"));
  }
  std::string dlq = grouped(num(letters, "total"));
  if (!parts.empty()) dlq += fmt::format(" ({})", fmt::join(parts, ", "));
  line(out, "dead letters", dlq);
  const auto err = s.find("last_error");
  line(out, "last error",
       err != s.end() && err->is_object()
           ? fmt::format("{} at {}: {}", str(*err, "kind"), str(*err, "at"), str(*err, "message"))
           : "none");
  if (const auto copy = s.find("copy"); copy != s.end() && copy->is_array() && !copy->empty()) {
    out += "\n" + copy_table(*copy);
  }
  return out;
}

}  // namespace crmsync::daemon
