#pragma once

#include <atomic>
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

/// Calls `step(i)` for i = 1, 2, ... on a thread of its own until stopped; the destructor stops
/// and joins it, so a failing REQUIRE cannot leave it running (std::terminate would skip every
/// cluster's cleanup).
class LoopThread {
 public:
  explicit LoopThread(std::function<void(int)> step) : step_(std::move(step)) {
    thread_ = std::thread([this] {
      for (int i = 1; !stop_; ++i) step_(i);
    });
  }
  ~LoopThread() { stop(); }
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::function<void(int)> step_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace crmsync::testing
