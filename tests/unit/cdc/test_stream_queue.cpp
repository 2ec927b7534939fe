#include <doctest/doctest.h>

#include <chrono>
#include <future>

#include "cdc/stream_queue.hpp"

using namespace crmsync;
using namespace crmsync::cdc;
using namespace std::chrono_literals;

namespace {

StreamItem message(pgoutput::Message m, std::size_t bytes = 100) {
  return StreamItem{StreamItem::Kind::Message, std::move(m), Lsn{1}, bytes};
}

}  // namespace

TEST_CASE("stream queue: a waiting consumer gets a whole transaction, in order, once its Commit arrives") {
  StreamQueue q(1 << 20);
  auto first = std::async(std::launch::async, [&] { return q.pop(10s); });
  REQUIRE(q.try_push(message(pgoutput::Begin{})));
  REQUIRE(q.try_push(message(pgoutput::Insert{})));
  REQUIRE(q.try_push(message(pgoutput::Commit{})));
  REQUIRE(first.wait_for(5s) == std::future_status::ready);
  auto got = first.get();
  REQUIRE(got);
  CHECK(std::holds_alternative<pgoutput::Begin>(got->message));
  CHECK(std::holds_alternative<pgoutput::Insert>(q.pop(0ms)->message));
  CHECK(std::holds_alternative<pgoutput::Commit>(q.pop(0ms)->message));
  CHECK(q.empty());
  CHECK(q.bytes() == 0);
}

TEST_CASE("stream queue: rows of a big transaction wake the consumer every 256 KB, control items at once") {
  StreamQueue q(16 << 20);
  auto waiting = std::async(std::launch::async, [&] { return q.pop(10s); });
  for (int i = 0; i < 3; ++i) REQUIRE(q.try_push(message(pgoutput::Insert{}, 100 * 1024)));
  REQUIRE(waiting.wait_for(5s) == std::future_status::ready);
  CHECK(waiting.get());
  while (q.pop(0ms)) {
  }
  auto control = std::async(std::launch::async, [&] { return q.pop(10s); });
  q.force_push(StreamItem{StreamItem::Kind::Reset, {}, Lsn{}, 1});
  REQUIRE(control.wait_for(5s) == std::future_status::ready);
  CHECK(control.get()->kind == StreamItem::Kind::Reset);
}

TEST_CASE("stream queue: full means refused, and the space callback fires once drained below half") {
  StreamQueue q(1000);
  int woken = 0;
  q.set_space_callback([&] { ++woken; });
  REQUIRE(q.try_push(message(pgoutput::Insert{}, 600)));
  auto refused = message(pgoutput::Commit{}, 600);
  CHECK_FALSE(q.try_push(std::move(refused)));
  CHECK(std::holds_alternative<pgoutput::Commit>(refused.message));  // left intact
  CHECK(q.pop(0ms));
  CHECK(woken == 1);
  CHECK(q.try_push(std::move(refused)));
}

TEST_CASE("stream queue: has_complete tells a whole queued transaction from one still arriving") {
  StreamQueue q(1 << 20);
  CHECK_FALSE(q.has_complete());
  REQUIRE(q.try_push(message(pgoutput::Begin{})));
  REQUIRE(q.try_push(message(pgoutput::Update{})));
  CHECK_FALSE(q.empty());
  CHECK_FALSE(q.has_complete());  // the apply loop need not wait for this one
  REQUIRE(q.try_push(message(pgoutput::Commit{})));
  CHECK(q.has_complete());
  REQUIRE(q.pop(0ms));
  REQUIRE(q.pop(0ms));
  CHECK(q.has_complete());
  REQUIRE(q.pop(0ms));  // the Commit
  CHECK_FALSE(q.has_complete());
  q.force_push(StreamItem{StreamItem::Kind::Reset, {}, Lsn{}, 1});
  CHECK(q.has_complete());  // control items are acted on at once too
  REQUIRE(q.pop(0ms));
  CHECK_FALSE(q.has_complete());
  CHECK(q.empty());
}
