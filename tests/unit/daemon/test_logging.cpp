// log.format json: a millisecond timestamp, the level and fields of their own; the journal prefix.

#include <doctest/doctest.h>
#include <spdlog/details/log_msg.h>

#include <regex>

#include <nlohmann/json.hpp>

#include "daemon/log_context.hpp"
#include "daemon/logging.hpp"

namespace crmsync::daemon {
namespace {

std::string render(config::LogFormat format, bool journal, spdlog::level::level_enum level, const std::string& text) {
  const auto f = make_log_formatter(format, journal);
  const spdlog::details::log_msg msg(spdlog::source_loc{}, "crmsync", level, text);
  spdlog::memory_buf_t out;
  f->format(msg, out);
  return {out.data(), out.size()};
}

}  // namespace

TEST_CASE("json log lines: ms timestamp, level, phase, and table/xid/lsn/sqlstate as fields") {
  const auto plain = nlohmann::json::parse(
      render(config::LogFormat::Json, false, spdlog::level::warn,
             "target unavailable (duplicate key value violates unique constraint (SQLSTATE 23505)) at 0/16B3F20"));
  CHECK(std::regex_match(plain["ts"].get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
  CHECK(plain["level"] == "warning");
  CHECK(plain["phase"] == "starting");
  CHECK(plain["sqlstate"] == "23505");
  CHECK(plain["lsn"] == "0/16B3F20");  // from the message when the thread has no transaction
  CHECK_FALSE(plain.contains("table"));
  CHECK_FALSE(plain.contains("xid"));

  const std::string table = "public.contacts";
  {
    const LogTableScope scope(table);
    log_context().xid = 4242;
    log_context().lsn = 0x16B3F20;
    const auto line = nlohmann::json::parse(render(config::LogFormat::Json, false, spdlog::level::info, "copied"));
    CHECK(line["table"] == "public.contacts");
    CHECK(line["xid"] == 4242);
    CHECK(line["lsn"] == "0/16B3F20");
    CHECK_FALSE(line.contains("sqlstate"));
  }
  log_context() = {};
  CHECK_FALSE(
      nlohmann::json::parse(render(config::LogFormat::Json, false, spdlog::level::info, "x")).contains("table"));
}

TEST_CASE("the journal gets each line's level as its syslog priority prefix") {
  CHECK(render(config::LogFormat::Text, true, spdlog::level::err, "boom").rfind("<3>error boom", 0) == 0);
  CHECK(render(config::LogFormat::Text, true, spdlog::level::warn, "hm").rfind("<4>", 0) == 0);
  CHECK(render(config::LogFormat::Text, true, spdlog::level::info, "ok").rfind("<6>", 0) == 0);
  CHECK(render(config::LogFormat::Text, true, spdlog::level::debug, "d").rfind("<7>", 0) == 0);
  const auto json = render(config::LogFormat::Json, true, spdlog::level::critical, "c");
  REQUIRE(json.rfind("<2>{", 0) == 0);
  CHECK(nlohmann::json::parse(json.substr(3))["msg"] == "c");
  // Not under the journal: no prefix, the text pattern with its own timestamp.
  CHECK(std::regex_search(render(config::LogFormat::Text, false, spdlog::level::info, "ok"),
                          std::regex(R"(^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} )")));
}

}  // namespace crmsync::daemon
