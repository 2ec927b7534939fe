// libFuzzer target for the pgoutput decoder: any byte string must decode or yield a
// ProtocolViolation, never crash, hang, leak or trip a sanitizer. Built and run by run-fuzz.sh
// (clang only; the project's g++ build does not compile this file).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cdc/pgoutput.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace pgo = crmsync::cdc::pgoutput;
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  auto result = pgo::decode(payload);
  if (result.ok()) {
    // A decoded message always has a name, and only non-empty input can decode.
    if (pgo::message_name(*result).empty() || size == 0) __builtin_trap();
  } else if (result.error().code != crmsync::ErrorCode::ProtocolViolation ||
             result.error().message.rfind("pgoutput", 0) != 0) {
    __builtin_trap();
  }
  return 0;
}
