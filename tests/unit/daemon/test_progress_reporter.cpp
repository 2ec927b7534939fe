// ProgressReporter (daemon/progress_reporter.hpp): the flushed position it publishes is never ahead
// of the checkpoint, positions only move forward, a requested write happens without waiting for
// the interval, and a failed write is kept for the apply loop.

#include <doctest/doctest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "checkpoint/store.hpp"
#include "daemon/progress_reporter.hpp"

using crmsync::Lsn;
using crmsync::checkpoint::Store;
using crmsync::daemon::ProgressReporter;
using namespace std::chrono_literals;

namespace {

struct TempStore {
  std::string path;
  std::unique_ptr<Store> store;
  TempStore() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "crmsync-reporter-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
    auto opened = Store::open(path + "/state");
    REQUIRE(opened.ok());
    store = std::move(opened).value();
  }
  ~TempStore() {
    store.reset();
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempStore(const TempStore&) = delete;
  TempStore& operator=(const TempStore&) = delete;
  [[nodiscard]] Lsn confirmed() const {
    auto c = store->confirmed_lsn();
    REQUIRE(c.ok());
    return c->value_or(Lsn{});
  }
};

// Waits up to `limit` for the published position to reach `want`.
bool published(const std::atomic<std::uint64_t>& flushed, Lsn want, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (flushed.load() >= want.value()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return flushed.load() >= want.value();
}

}  // namespace

TEST_CASE("progress reporter: the published position follows the checkpoint, never leads it") {
  TempStore t;
  std::atomic<std::uint64_t> flushed{0};
  // A long interval: only flush() and applied_soon() write within this test's time.
  ProgressReporter reporter(*t.store, flushed, std::chrono::milliseconds(60'000));

  reporter.applied(Lsn{0x100});
  std::this_thread::sleep_for(50ms);
  CHECK(flushed.load() == 0);  // not written yet, so not published
  CHECK(t.confirmed() == Lsn{});

  REQUIRE(reporter.flush().ok());
  CHECK(flushed.load() == 0x100);
  CHECK(t.confirmed() == Lsn{0x100});

  reporter.applied(Lsn{0x80});  // an older position changes nothing
  REQUIRE(reporter.flush().ok());
  CHECK(flushed.load() == 0x100);
  CHECK(t.confirmed() == Lsn{0x100});

  reporter.applied_soon(Lsn{0x200});
  CHECK(published(flushed, Lsn{0x200}, 5000ms));
  CHECK(t.confirmed() >= Lsn{flushed.load()});
  CHECK(reporter.writes() == 2);
  CHECK_FALSE(reporter.error());
}

TEST_CASE("progress reporter: writes on its own every interval") {
  TempStore t;
  std::atomic<std::uint64_t> flushed{0};
  ProgressReporter reporter(*t.store, flushed, std::chrono::milliseconds(20));
  for (std::uint64_t i = 1; i <= 50; ++i) {
    reporter.applied(Lsn{i * 16});
    std::this_thread::sleep_for(2ms);
    CHECK(t.confirmed() >= Lsn{flushed.load()});
  }
  CHECK(published(flushed, Lsn{50 * 16}, 5000ms));
  CHECK(t.confirmed() == Lsn{50 * 16});
  CHECK(reporter.writes() < 50);  // batched, not one synced write per position
}

TEST_CASE("progress reporter: a failed checkpoint write is reported and nothing is published") {
  TempStore t;
  // The checkpoint already holds a later position: writing an earlier one is refused.
  REQUIRE(t.store->set_confirmed_lsn(Lsn{0x1000}).ok());
  std::atomic<std::uint64_t> flushed{0};
  ProgressReporter reporter(*t.store, flushed, std::chrono::milliseconds(60'000));
  reporter.applied(Lsn{0x500});
  auto written = reporter.flush();
  REQUIRE_FALSE(written.ok());
  REQUIRE(reporter.error().has_value());
  CHECK(reporter.error()->message.find("backwards") != std::string::npos);
  CHECK(flushed.load() == 0);
}
