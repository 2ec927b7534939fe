// LatencyHistogram (daemon/latency.hpp): percentiles within one 50 µs bucket of the truth, the
// exact maximum, overflow past 2 s, and negative durations (clock skew) as zero.

#include <doctest/doctest.h>

#include "daemon/latency.hpp"

using crmsync::daemon::LatencyHistogram;
using std::chrono::microseconds;

TEST_CASE("latency histogram: percentiles, maximum, overflow and skew") {
  LatencyHistogram h;
  CHECK(h.count() == 0);
  CHECK(h.percentile(0.99) == microseconds{0});
  CHECK(h.summary() == "no transactions");

  for (int i = 1; i <= 1000; ++i) h.record(microseconds{i * 10});  // 10 µs .. 10 ms
  CHECK(h.count() == 1000);
  CHECK(h.max() == microseconds{10'000});
  const auto p50 = h.percentile(0.50).count();
  CHECK(p50 >= 5'000);
  CHECK(p50 <= 5'050);
  const auto p99 = h.percentile(0.99).count();
  CHECK(p99 >= 9'900);
  CHECK(p99 <= 9'950);
  CHECK(h.percentile(1.0) == microseconds{10'000});  // never above the largest sample
  CHECK(h.summary() == "p50 5.0 ms, p99 9.9 ms, max 10.0 ms (n 1000)");

  h.record(microseconds{5'000'000});  // past the last bucket
  CHECK(h.max() == microseconds{5'000'000});
  CHECK(h.percentile(1.0) == microseconds{5'000'000});

  h.clear();
  h.record(microseconds{-300});  // the source's clock is ahead of ours
  CHECK(h.count() == 1);
  CHECK(h.max() == microseconds{0});
  CHECK(h.percentile(0.5) == microseconds{0});
}
