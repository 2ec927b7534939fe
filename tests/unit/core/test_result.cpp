#include <doctest/doctest.h>

#include <memory>

#include "core/result.hpp"

using crmsync::Error;
using crmsync::ErrorCode;
using crmsync::Result;
using crmsync::Retry;

namespace {
Result<int> half(int v) {
  if (v % 2 != 0) {
    return Error{ErrorCode::InvalidArgument, "odd", Retry::No};
  }
  return v / 2;
}
}  // namespace

TEST_CASE("Result carries a value or an error") {
  auto good = half(8);
  REQUIRE(good.ok());
  CHECK(*good == 4);
  auto bad = half(7);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message == "odd");
  CHECK_FALSE(bad.error().retryable());
  CHECK_THROWS(bad.value());  // the wrong alternative is a programmer error, not UB
}

TEST_CASE("Result holds move-only values and Status holds no value") {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  REQUIRE(r.ok());
  auto p = std::move(r).value();
  CHECK(*p == 5);
  crmsync::Status ok;
  CHECK(ok.ok());
  crmsync::Status failed = Error{ErrorCode::ConnectionFailed, "down", Retry::Yes};
  CHECK_FALSE(failed.ok());
  CHECK(failed.error().retryable());
  CHECK(crmsync::to_string(ErrorCode::ConnectionFailed) == "connection failed");
}
