// Sizes ("16MB", "1GiB") and durations ("1m30s") as they come from the config, the
// environment, flags and ?lag=: parsing never crashes, never yields a negative duration, and
// what the formatters print parses back to the same value.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/units.hpp"
#include "test/fuzz/fuzz_check.hpp"

using replagent::agent::format_duration;
using replagent::agent::format_size;
using replagent::agent::parse_duration;
using replagent::agent::parse_size;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto bytes = parse_size(text)) {
    const std::string shown = format_size(*bytes);
    // "15.3MiB" is rounded for humans; exact forms must round-trip.
    if (shown.find('.') == std::string::npos) FUZZ_CHECK(parse_size(shown) == bytes);
  }

  if (auto d = parse_duration(text)) {
    FUZZ_CHECK(d->count() >= 0);
    FUZZ_CHECK(parse_duration(format_duration(*d)) == d);
  }
  return 0;
}
