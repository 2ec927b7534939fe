// The board's readiness: why not ready, and the slot warnings that go with either answer.

#include <doctest/doctest.h>

#include "telemetry/board.hpp"

namespace crmsync::telemetry {

TEST_CASE("readiness: streaming with both servers and little lag is ready, slot warnings go with either answer") {
  Board b;
  b.set_pipeline("p", 1024 * 1024);
  CHECK(b.readiness(60).reason == "phase is starting, not streaming");
  b.set_phase(Phase::Streaming);
  b.set_source_connected(true);
  CHECK_FALSE(b.readiness(60).ready);
  CHECK(b.readiness(60).reason == "the target is not connected");
  b.set_target_connected(true);
  CHECK(b.readiness(60).ready);
  CHECK(b.readiness(60).reason.empty());

  SlotInfo slot;
  slot.name = "s";
  slot.found = true;
  slot.retained_bytes = 3 * 1024 * 1024;
  slot.wal_status = "reserved";
  b.set_slot(slot);
  auto r = b.readiness(60);
  CHECK(r.ready);
  CHECK(r.reason == "warning: the slot retains 3 MB of WAL, over source.max_retained_wal (1 MB)");

  b.set_phase(Phase::Copying);
  r = b.readiness(60);
  CHECK_FALSE(r.ready);
  CHECK(r.reason ==
        "phase is copying, not streaming; warning: the slot retains 3 MB of WAL, over source.max_retained_wal (1 MB)");

  slot.wal_status = "unreserved";
  b.set_slot(slot);
  b.set_phase(Phase::Streaming);
  CHECK(b.readiness(60).reason.starts_with("warning: the slot's WAL is unreserved"));
  // A transaction delivered 90 s ago and not yet committed: over the lag threshold.
  b.set_oldest_unapplied(Board::SystemClock::now() - std::chrono::seconds(90));
  r = b.readiness(60);
  CHECK_FALSE(r.ready);
  CHECK(r.reason.starts_with("lag 90"));
  CHECK(r.reason.find("over http.ready_max_lag_s (60 s); warning: the slot's WAL is unreserved") != std::string::npos);
}

}  // namespace crmsync::telemetry
