#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace replagent::agent {

// "16MB", "1GiB", "512kB", "0", "1048576" (bytes). Decimal units (kB/MB/GB/TB = 1000^n, also
// k/K/M/G/T) and binary ones (KiB/MiB/GiB/TiB = 1024^n); case-insensitive unit, no sign.
// nullopt for anything else, including overflow past 2^64.
std::optional<std::uint64_t> parse_size(std::string_view text);

// "200ms", "10s", "5m", "1h", "1m30s"; a bare "0" is zero. nullopt otherwise (no bare numbers
// other than 0, no negatives, no overflow).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// 16000000 -> "16MB" when exact, else "15.3MiB"-style with one decimal; for logs and config.
std::string format_size(std::uint64_t bytes);
// format_size when that is exact, else the bytes ("100001"): for output that is read back
// (`replagent config`), where parse_size must give the same value again.
std::string format_size_exact(std::uint64_t bytes);
// 90000ms -> "1m30s", 200ms -> "200ms", 0 -> "0s".
std::string format_duration(std::chrono::milliseconds d);

}  // namespace replagent::agent
