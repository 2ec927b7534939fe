// `crmsync verify`: the report (a table for a person, or JSON) and the exit code.
#include <fmt/format.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "daemon/verify.hpp"

namespace crmsync::daemon {

std::string render_verify_text(const VerifyReport& report) {
  const auto& verdicts = report.tables;
  std::size_t width = 5;
  for (const auto& v : verdicts) width = std::max(width, v.source.size() + v.target.size() + 4);
  std::string out = fmt::format("source snapshot at {}, target at {}: {}\n\n", report.point.source,
                                report.point.target ? report.point.target->to_string() : std::string("(none applied)"),
                                report.point.how);
  // CHUNKS: key-range buckets checksummed in both databases / of them compared row by row ("rows":
  // the table is compared row by row throughout, its mapping changes values or it has no key).
  out += fmt::format("{:<{}} {:>12} {:>12} {:>11} {:>11} {:>12} {:>8}\n", "TABLE", width, "SOURCE ROWS", "TARGET ROWS",
                     "CHUNKS", "DIFFERENCES", "DEAD LETTERS", "SECONDS");
  int equal = 0;
  int differ = 0;
  int failed = 0;
  for (const auto& v : verdicts) {
    const auto name = v.source == v.target ? v.source : fmt::format("{} -> {}", v.source, v.target);
    if (!v.error.empty()) {
      ++failed;
      out += fmt::format("{:<{}} could not be verified: {}\n", name, width, v.error);
      continue;
    }
    const auto chunks = v.buckets == 0 ? std::string("rows") : fmt::format("{}/{}", v.buckets, v.buckets_differing);
    out += fmt::format("{:<{}} {:>12} {:>12} {:>11} {:>11} {:>12} {:>8.2f}\n", name, width, v.source_rows,
                       v.target_rows, chunks, v.differences(), v.dead_letters, v.seconds);
    (v.differences() == 0 ? equal : differ) += 1;
    if (v.differences() > 0) {
      out += fmt::format("  {} missing, {} extra, {} different{}\n", v.missing, v.extra, v.different,
                         v.skipped > 0 ? fmt::format(" ({} skipped by on_invalid: skip)", v.skipped) : std::string());
    }
    for (const auto& k : v.keys) {
      out += fmt::format("  {:<11} {}", to_string(k.kind), k.key);
      if (!k.columns.empty()) out += fmt::format(" (columns {})", fmt::join(k.columns, ", "));
      if (!k.note.empty()) out += fmt::format(": {}", k.note);
      out += '\n';
    }
    const auto listed = static_cast<std::int64_t>(v.keys.size());
    if (listed < v.differences() + v.dead_letters + v.skipped) {
      out += fmt::format("  ... {} more (--max-keys)\n", v.differences() + v.dead_letters + v.skipped - listed);
    }
  }
  out += fmt::format("\nverify: {} table{} equal, {} different{} in {:.1f} s\n", equal, equal == 1 ? "" : "s", differ,
                     failed > 0 ? fmt::format(", {} could not be verified", failed) : std::string(), report.seconds);
  return out;
}

std::string render_verify_json(const VerifyReport& report) {
  const auto& verdicts = report.tables;
  auto tables = nlohmann::json::array();
  bool equal = true;
  for (const auto& v : verdicts) {
    auto keys = nlohmann::json::array();
    for (const auto& k : v.keys) {
      keys.push_back({{"kind", to_string(k.kind)}, {"key", k.key}, {"columns", k.columns}, {"note", k.note}});
    }
    equal = equal && v.error.empty() && v.differences() == 0;
    tables.push_back({{"source", v.source},
                      {"target", v.target},
                      {"source_rows", v.source_rows},
                      {"target_rows", v.target_rows},
                      {"equal", v.error.empty() && v.differences() == 0},
                      {"missing", v.missing},
                      {"extra", v.extra},
                      {"different", v.different},
                      {"dead_letters", v.dead_letters},
                      {"skipped", v.skipped},
                      {"keys", keys},
                      {"chunks", v.buckets},
                      {"chunks_compared_by_row", v.buckets_differing},
                      {"seconds", v.seconds},
                      {"error", v.error}});
  }
  nlohmann::json doc = {{"equal", equal},
                        {"source_lsn", report.point.source.to_string()},
                        {"target_lsn", report.point.target ? report.point.target->to_string() : std::string()},
                        {"exact", report.point.exact},
                        {"point", report.point.how},
                        {"hold_ms", report.point.hold_ms},
                        {"seconds", report.seconds},
                        {"tables", tables}};
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

ExitCode verify_command(const config::PipelineConfig& cfg, const VerifyOptions& options, bool json) {
  auto report = verify_tables(cfg, options);
  if (!report) {
    std::fprintf(stderr, "crmsync verify: %s\n", report.error().message.c_str());
    return report.error().code == ErrorCode::InvalidArgument ? ExitCode::Usage : ExitCode::Failure;
  }
  const auto text = json ? render_verify_json(*report) : render_verify_text(*report);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  bool failed = false;
  bool differ = false;
  for (const auto& v : report->tables) {
    failed = failed || !v.error.empty();
    differ = differ || v.differences() > 0;
  }
  if (differ) return ExitCode::VerifyMismatch;
  return failed ? ExitCode::Failure : ExitCode::Ok;
}

}  // namespace crmsync::daemon
