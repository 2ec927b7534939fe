#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "daemon/check_command.hpp"

using namespace crmsync;

TEST_CASE("check report renders as an aligned table with a summary") {
  const CheckReport report{{"source", "wal_level", CheckStatus::Ok, "logical"},
                           {"target", "table public.contacts", CheckStatus::Fail, "missing columns: email"},
                           {"target", "table public.deals", CheckStatus::Warn, "types differ"}};
  CHECK(daemon::render_check_text(report) ==
        "SCOPE   CHECK                 STATUS DETAIL\n"
        "source  wal_level             ok     logical\n"
        "target  table public.contacts FAIL   missing columns: email\n"
        "target  table public.deals    warn   types differ\n"
        "\n"
        "preflight FAILED: 1 ok, 1 warning, 1 failed\n");
}

TEST_CASE("check report renders as JSON") {
  const CheckReport report{{"source", "wal_level", CheckStatus::Ok, "logical \"x\""}};
  const auto doc = nlohmann::json::parse(daemon::render_check_json(report));
  CHECK(doc["ok"] == true);
  REQUIRE(doc["checks"].size() == 1);
  CHECK(doc["checks"][0]["status"] == "ok");
  CHECK(doc["checks"][0]["detail"] == "logical \"x\"");
  CHECK_FALSE(all_passed({{"target", "connect", CheckStatus::Fail, "down"}}));
  CHECK(all_passed({{"target", "x", CheckStatus::Warn, "meh"}}));
}
