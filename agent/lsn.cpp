#include "agent/lsn.hpp"

#include <fmt/format.h>

#include <charconv>
#include <string_view>
#include <system_error>

namespace replagent::agent {

std::optional<std::uint64_t> parse_lsn(const std::string& text) {
  // PostgreSQL prints an LSN as two 32-bit halves in hex, "%X/%X": 1 to 8 digits each.
  const auto slash = text.find('/');
  if (slash == std::string::npos) return std::nullopt;
  auto half = [](std::string_view s) -> std::optional<std::uint32_t> {
    if (s.empty() || s.size() > 8) return std::nullopt;
    std::uint32_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
    if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
    return v;
  };
  const std::string_view all(text);
  const auto hi = half(all.substr(0, slash));
  const auto lo = half(all.substr(slash + 1));
  if (!hi || !lo) return std::nullopt;
  return (static_cast<std::uint64_t>(*hi) << 32) | *lo;
}

std::string format_lsn(std::uint64_t lsn) {
  return fmt::format("{:X}/{:X}", static_cast<std::uint32_t>(lsn >> 32),
                     static_cast<std::uint32_t>(lsn));
}

}  // namespace replagent::agent
