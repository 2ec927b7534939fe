// The systemd unit is valid and hardened (systemd-analyze works without systemd as PID 1).

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "support/cluster.hpp"
#include "support/process.hpp"

using namespace crmsync::testing;

TEST_CASE("systemd: the template unit verifies and its exposure level is OK") {
  std::ifstream in(std::string(CRMSYNC_SOURCE_DIR) + "/systemd/crmsync@.service");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string unit = ss.str();
  REQUIRE(unit.find("ExecStart=/usr/local/bin/crmsync run") != std::string::npos);
  CHECK(unit.find("RestartPreventExitStatus=65 78") != std::string::npos);
  CHECK(unit.find("Type=notify") != std::string::npos);
  CHECK(unit.find("WatchdogSec=120s") != std::string::npos);
  CHECK(unit.find("ExecReload=/bin/kill -HUP $MAINPID") != std::string::npos);
  // verify checks that ExecStart's binary exists: point it at the one just built.
  unit.replace(unit.find("/usr/local/bin/crmsync"), 22, crmsync_binary());
  TempDir dir;
  const auto path = dir.write("crmsync@demo.service", unit);
  const auto verify = run_process({"/usr/bin/systemd-analyze", "verify", path});
  CAPTURE(verify.err);
  CHECK(verify.exit_code == 0);
  CHECK(verify.err.empty());
  const auto security = run_process({"/usr/bin/systemd-analyze", "security", "--offline=true", path});
  CAPTURE(security.out);
  CHECK(security.out.find("Overall exposure level for crmsync@demo.service: 1.") != std::string::npos);
}
