#pragma once
// LatencyHistogram: how long source transactions took to reach the target, kept in fixed buckets
// (50 µs wide up to 2 s; slower ones count towards the total and the exact maximum), so recording
// costs an increment and memory does not grow with the stream. Used for the stop line and the
// log's periodic apply summary, so an operator sees where lag comes from without a profiler.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace crmsync::daemon {

class LatencyHistogram {
 public:
  using Duration = std::chrono::microseconds;
  LatencyHistogram();
  void record(Duration d);  // negative durations (clock skew between hosts) count as 0
  [[nodiscard]] std::int64_t count() const { return count_; }
  /// The smallest bucket bound at or under which `q` (0..1) of the samples fall; 0 when empty.
  [[nodiscard]] Duration percentile(double q) const;
  [[nodiscard]] Duration max() const { return max_; }
  /// "p50 1.2 ms, p99 8.0 ms, max 31.0 ms (n 1234)", or "no transactions".
  [[nodiscard]] std::string summary() const;
  void clear();

 private:
  static constexpr std::int64_t kBucketUs = 50;
  static constexpr std::size_t kBuckets = 40'000;  // 2 s; beyond that, the overflow bucket
  std::vector<std::uint32_t> buckets_;
  std::int64_t count_ = 0;
  Duration max_{0};
};

}  // namespace crmsync::daemon
