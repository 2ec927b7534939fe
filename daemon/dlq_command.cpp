#include "daemon/dlq_command.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "daemon/sessions.hpp"
#include "sink/postgres/copy_sink.hpp"
#include "sink/postgres/dead_letters.hpp"

namespace crmsync::daemon {
namespace {

using json = nlohmann::json;

// The target connection, and whether crmsync ever created its state there.
Result<std::optional<pq::Connection>> connect_target(const config::PipelineConfig& cfg) {
  auto conn = pq::Connection::connect(bare_target_options(cfg, "crmsync dlq"));
  if (!conn) return conn.take_error();
  auto exists =
      conn->exec(fmt::format("SELECT to_regclass('{}.dead_letters') IS NOT NULL", sink::postgres::kStateSchema));
  if (!exists) return exists.take_error();
  if (exists->get(0, 0) != "t") return std::optional<pq::Connection>{};
  return std::optional<pq::Connection>{std::move(conn).value()};
}

json row_json(const std::vector<std::pair<std::string, Value>>& row) {
  json out = json::array();
  for (const auto& [name, v] : row) {
    json entry = {{"column", name}, {"value", v.kind == ValueKind::Text ? json(v.text) : json(nullptr)}};
    if (v.kind == ValueKind::UnchangedToast) entry["unchanged_toast"] = true;  // not in the change
    out.push_back(std::move(entry));
  }
  return out;
}

std::string where_met(const sink::postgres::DeadLetter& l) {
  if (l.lsn) return fmt::format("lsn {}", *l.lsn);
  if (l.chunk) return fmt::format("copy chunk {}", *l.chunk);
  return "?";
}

void print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

std::optional<std::optional<std::int64_t>> parse_letter_id(const std::string& text) {
  if (text == "all") return std::optional<std::int64_t>{};
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n <= 0) return std::nullopt;
  return std::optional<std::int64_t>{n};
}

ExitCode dlq_list_command(const config::PipelineConfig& cfg, const std::string& table, bool as_json) {
  auto conn = connect_target(cfg);
  if (!conn) {
    spdlog::error("crmsync dlq list: {}", conn.error().message);
    return conn.error().retryable() ? ExitCode::Failure : ExitCode::Permanent;
  }
  std::vector<sink::postgres::StoredLetter> letters;
  if (*conn) {
    auto listed = sink::postgres::list_letters(**conn, cfg.name, table);
    if (!listed) {
      spdlog::error("crmsync dlq list: {}", listed.error().message);
      return ExitCode::Failure;
    }
    letters = std::move(listed).value();
  }
  if (as_json) {
    json out = json::array();
    for (const auto& s : letters) {
      const auto& l = s.letter;
      out.push_back({{"id", s.id},
                     {"table", l.source_table},
                     {"key", l.key},
                     {"operation", std::string(sink::postgres::to_string(l.op))},
                     {"lsn", l.lsn ? json(l.lsn->to_string()) : json(nullptr)},
                     {"copy_chunk", l.chunk ? json(*l.chunk) : json(nullptr)},
                     {"rule", l.rule},
                     {"column", l.column},
                     {"reason", l.reason},
                     {"row", row_json(l.row)},
                     {"old_key", row_json(l.old_key)},
                     {"created_at", s.created_at}});
    }
    print(out.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
    return ExitCode::Ok;
  }
  std::string text;
  for (const auto& s : letters) {
    const auto& l = s.letter;
    text +=
        fmt::format("{:>6}  {}  {}  {}  {}  {}{}: {}\n", s.id, l.source_table, l.key, sink::postgres::to_string(l.op),
                    where_met(l), l.rule, l.column.empty() ? "" : " on " + l.column, l.reason);
  }
  text += fmt::format("{} dead letter{}{}\n", letters.size(), letters.size() == 1 ? "" : "s",
                      table.empty() ? "" : " in " + table);
  print(text);
  return ExitCode::Ok;
}

ExitCode dlq_drop_command(const config::PipelineConfig& cfg, const std::string& id) {
  const auto parsed = parse_letter_id(id);
  if (!parsed) {
    std::fprintf(stderr, "crmsync dlq %s: \"%s\" is neither a letter id nor all\n", "drop", id.c_str());
    return ExitCode::Usage;
  }
  const auto which = *parsed;
  auto conn = connect_target(cfg);
  if (!conn) {
    spdlog::error("crmsync dlq drop: {}", conn.error().message);
    return conn.error().retryable() ? ExitCode::Failure : ExitCode::Permanent;
  }
  std::int64_t dropped = 0;
  if (*conn) {
    auto n = sink::postgres::drop_letters(**conn, cfg.name, which);
    if (!n) {
      spdlog::error("crmsync dlq drop: {}", n.error().message);
      return ExitCode::Failure;
    }
    dropped = *n;
  }
  if (which && dropped == 0) {
    std::fprintf(stderr, "crmsync dlq drop: no dead letter %s in pipeline %s\n", id.c_str(), cfg.name.c_str());
    return ExitCode::Failure;
  }
  print(fmt::format("dropped {} dead letter{}\n", dropped, dropped == 1 ? "" : "s"));
  return ExitCode::Ok;
}

}  // namespace crmsync::daemon
