// The command line contract: exit codes, help, version, config errors. No server needed, but it
// runs the real binary, so it lives with the integration tests.

#include <doctest/doctest.h>

#include "support/cluster.hpp"
#include "support/process.hpp"

using crmsync::testing::crmsync_binary;
using crmsync::testing::run_process;
using crmsync::testing::TempDir;

namespace {
constexpr const char* kValid = R"yaml(name: cli
source:
  dsn: "host=127.0.0.1 port=1 dbname=x"
  tables: [public.accounts]
target:
  type: postgres
  dsn: "host=127.0.0.1 port=1 dbname=y"
)yaml";
}  // namespace

TEST_CASE("--version and --help exit 0") {
  const auto v = run_process({crmsync_binary(), "--version"});
  CHECK(v.exit_code == 0);
  CHECK(v.out == "crmsync 0.1.0\n");
  const auto h = run_process({crmsync_binary(), "check", "--help"});
  CHECK(h.exit_code == 0);
  CHECK(h.out.find("-c,--config") != std::string::npos);
  CHECK(h.out.find("--json") != std::string::npos);
}

TEST_CASE("usage errors exit 2") {
  CHECK(run_process({crmsync_binary()}).exit_code == 2);
  CHECK(run_process({crmsync_binary(), "frobnicate"}).exit_code == 2);
  CHECK(run_process({crmsync_binary(), "check"}).exit_code == 2);  // -c is required
  CHECK(run_process({crmsync_binary(), "check", "-c", "x.yaml", "--bogus"}).exit_code == 2);
  CHECK(run_process({crmsync_binary(), "dlq", "-c", "x.yaml"}).exit_code == 2);  // needs list/retry/drop
}

TEST_CASE("a config error exits 78 and prints only the errors") {
  TempDir dir;
  const auto path = dir.write("bad.yaml", "name: Bad-Name\nsource:\n  dsn: \"x\"\n  tabels: [a]\n");
  const auto r = run_process({crmsync_binary(), "check", "-c", path}, {});
  CHECK(r.exit_code == 78);
  CHECK(r.out.empty());
  CHECK(r.err.find(path + ":1:7: name: ") != std::string::npos);
  CHECK(r.err.find(path + ":4:3: source: unknown key \"tabels\" (did you mean \"tables\"?)") != std::string::npos);
  const auto missing = run_process({crmsync_binary(), "run", "-c", dir.path() + "/absent.yaml"});
  CHECK(missing.exit_code == 78);
  CHECK(missing.err.find(dir.path() + "/absent.yaml") != std::string::npos);
}

TEST_CASE("status of a pipeline that never ran, with both servers down: not running, phase new") {
  TempDir dir;
  const auto path = dir.write("ok.yaml", std::string(kValid) + "state_dir: " + dir.path() + "/state\n");
  const auto r = run_process({crmsync_binary(), "status", "-c", path});
  CAPTURE(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("pipeline cli: stopped (daemon not running; checkpoint phase new)") != std::string::npos);
  CHECK(r.out.find("no " + dir.path() + "/state/http.address") != std::string::npos);
  CHECK(r.out.find("not found on the source (or the source did not answer)") != std::string::npos);
  const auto j = run_process({crmsync_binary(), "status", "--json", "-c", path});
  CHECK(j.exit_code == 0);
  CHECK(j.out.find("\"running\": false") != std::string::npos);
  CHECK(j.out.find("\"checkpoint_phase\": \"new\"") != std::string::npos);
}
