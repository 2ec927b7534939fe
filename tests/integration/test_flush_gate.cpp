// FlushGate (daemon/flush_gate.hpp) against a real server whose WAL writer flushes at most every
// 10 s: an asynchronous commit is not reported durable until the WAL flush covers it, force()
// makes it durable, and a server that restarted since the apply session connected is refused.

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <thread>

#include "daemon/flush_gate.hpp"
#include "support/cluster.hpp"
#include "support/process.hpp"

using namespace crmsync;
using namespace crmsync::testing;
using namespace std::chrono_literals;

namespace {

pq::ConnectOptions options(const PgCluster& c, const std::string& async) {
  pq::ConnectOptions o;
  o.dsn = c.dsn();
  o.settings = {{"synchronous_commit", async}};
  return o;
}

pq::Connection connect(const PgCluster& c, const std::string& async) {
  auto conn = pq::Connection::connect(options(c, async));
  REQUIRE(conn);
  return std::move(conn).value();
}

}  // namespace

TEST_CASE("flush gate: an asynchronous commit is confirmed only once the target's WAL flush covers it") {
  PgCluster target("flush-gate", {"synchronous_commit=off", "wal_writer_delay=10000ms", "wal_writer_flush_after=0"});
  target.exec("CREATE TABLE public.t (id int)");
  auto apply = connect(target, "off");
  auto opened = daemon::FlushGate::open(options(target, "on"), apply);
  REQUIRE(opened);
  auto& gate = **opened;
  // Settle the WAL writer's first round, so that the next 10 s are quiet.
  REQUIRE(gate.force(Lsn{1}));

  REQUIRE(apply.exec("INSERT INTO public.t VALUES (1)"));
  auto first = gate.durable(Lsn{100});
  REQUIRE(first);
  CHECK_FALSE(first->has_value());  // committed and visible, not yet on disk
  auto again = gate.durable(Lsn{100});
  REQUIRE(again);
  CHECK_FALSE(again->has_value());
  // A later commit's flush covers the earlier one: a synchronous commit by anyone flushes the WAL.
  auto other = connect(target, "on");
  REQUIRE(other.exec("INSERT INTO public.t VALUES (2)"));
  auto after = gate.durable(Lsn{200});
  REQUIRE(after);
  REQUIRE(after->has_value());
  CHECK(**after >= Lsn{100});
  auto forced = gate.force(Lsn{300});
  REQUIRE(forced);
  CHECK(**forced == Lsn{300});
  auto nothing_left = gate.durable(Lsn{300});
  REQUIRE(nothing_left);
  CHECK_FALSE(nothing_left->has_value());
}

TEST_CASE("flush gate: a target that restarted since the apply session connected confirms nothing") {
  PgCluster target("flush-gate-crash",
                   {"synchronous_commit=off", "wal_writer_delay=10000ms", "wal_writer_flush_after=0"});
  target.exec("CREATE TABLE public.t (id int)");
  auto apply = connect(target, "off");
  auto opened = daemon::FlushGate::open(options(target, "on"), apply);
  REQUIRE(opened);
  auto& gate = **opened;
  REQUIRE(gate.force(Lsn{1}));
  REQUIRE(apply.exec("INSERT INTO public.t VALUES (1)"));
  auto pending = gate.durable(Lsn{100});
  REQUIRE(pending);
  CHECK_FALSE(pending->has_value());
  REQUIRE(run_process({script_path("pg-cluster"), "stop-server", target.name(), std::to_string(target.port()), "-m",
                       "immediate"})
              .exit_code == 0);
  REQUIRE(run_process({script_path("pg-cluster"), "start-server", target.name(), std::to_string(target.port())})
              .exit_code == 0);
  // The commit was (most likely) lost with the crash; the WAL after recovery grows past the
  // position the gate noted, which must not count as that commit's flush.
  target.exec("CREATE TABLE public.filler AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 20000) g");
  target.exec("CHECKPOINT");
  CHECK_FALSE(gate.durable(Lsn{100}));          // its session died with the server
  const auto refused = gate.durable(Lsn{100});  // a new session, on a server that is not the one
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("restarted") != std::string::npos);
  CHECK_FALSE(gate.force(Lsn{100}));
}
