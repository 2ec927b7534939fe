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

TEST_CASE("commands whose engine does not exist yet say so and exit 1") {
  TempDir dir;
  const auto path = dir.write("ok.yaml", kValid);
  for (const auto& cmd : std::vector<std::vector<std::string>>{{"status"}}) {
    std::vector<std::string> argv{crmsync_binary()};
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    argv.insert(argv.end(), {"-c", path});
    const auto r = run_process(argv);
    CAPTURE(cmd[0]);
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK(r.err.find("not implemented yet") != std::string::npos);
  }
}
