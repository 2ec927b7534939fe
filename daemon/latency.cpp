#include "daemon/latency.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace crmsync::daemon {

LatencyHistogram::LatencyHistogram() : buckets_(kBuckets, 0) {}

void LatencyHistogram::record(Duration d) {
  const auto us = std::max<std::int64_t>(0, d.count());
  const auto bucket = static_cast<std::size_t>(us / kBucketUs);
  if (bucket < kBuckets) ++buckets_[bucket];  // beyond: counted in count_ only, max_ bounds it
  ++count_;
  max_ = std::max(max_, Duration{us});
}

LatencyHistogram::Duration LatencyHistogram::percentile(double q) const {
  if (count_ == 0) return Duration{0};
  const auto rank = static_cast<std::int64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_)));
  std::int64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    // The bucket's upper bound, but never more than the largest sample seen.
    if (seen >= std::max<std::int64_t>(rank, 1)) {
      return std::min(max_, Duration{static_cast<std::int64_t>(i + 1) * kBucketUs});
    }
  }
  return max_;
}

std::string LatencyHistogram::summary() const {
  if (count_ == 0) return "no transactions";
  const auto ms = [](Duration d) { return static_cast<double>(d.count()) / 1000.0; };
  return fmt::format("p50 {:.1f} ms, p99 {:.1f} ms, max {:.1f} ms (n {})", ms(percentile(0.50)), ms(percentile(0.99)),
                     ms(max_), count_);
}

void LatencyHistogram::clear() {
  std::fill(buckets_.begin(), buckets_.end(), 0);
  count_ = 0;
  max_ = Duration{0};
}

}  // namespace crmsync::daemon
