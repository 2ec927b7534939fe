#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace crmsync::testing {

/// Polls `done` every 50 ms until it returns true or `timeout` passes; returns the last answer.
inline bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

}  // namespace crmsync::testing
