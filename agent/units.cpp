#include "agent/units.hpp"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <limits>
#include <utility>

namespace replagent::agent {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

// Splits "16MB" into 16 and "MB"; nullopt without leading digits or on overflow.
std::optional<std::pair<std::uint64_t, std::string_view>> split_number(std::string_view text) {
  std::size_t i = 0;
  std::uint64_t value = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    const std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
    ++i;
  }
  if (i == 0) return std::nullopt;
  return std::make_pair(value, text.substr(i));
}

bool checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t* out) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return false;
  *out = a * b;
  return true;
}

}  // namespace

std::optional<std::uint64_t> parse_size(std::string_view text) {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  auto [value, unit] = *parts;
  static constexpr std::array<std::pair<std::string_view, std::uint64_t>, 14> kUnits{{
      {"", 1},
      {"b", 1},
      {"k", 1000ULL},
      {"kb", 1000ULL},
      {"m", 1000ULL * 1000},
      {"mb", 1000ULL * 1000},
      {"g", 1000ULL * 1000 * 1000},
      {"gb", 1000ULL * 1000 * 1000},
      {"t", 1000ULL * 1000 * 1000 * 1000},
      {"tb", 1000ULL * 1000 * 1000 * 1000},
      {"kib", 1ULL << 10},
      {"mib", 1ULL << 20},
      {"gib", 1ULL << 30},
      {"tib", 1ULL << 40},
  }};
  for (const auto& [name, factor] : kUnits) {
    if (iequals(unit, name)) {
      std::uint64_t result = 0;
      if (!checked_mul(value, factor, &result)) return std::nullopt;
      return result;
    }
  }
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text == "0") return std::chrono::milliseconds{0};
  if (text.empty()) return std::nullopt;
  static constexpr std::array<std::pair<std::string_view, std::uint64_t>, 4> kUnits{
      {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}}};
  std::uint64_t total = 0;
  while (!text.empty()) {
    auto parts = split_number(text);
    if (!parts) return std::nullopt;
    auto [value, rest] = *parts;
    std::size_t unit_len = 0;
    while (unit_len < rest.size() && std::isalpha(static_cast<unsigned char>(rest[unit_len])))
      ++unit_len;
    const std::string_view unit = rest.substr(0, unit_len);
    bool matched = false;
    for (const auto& [name, factor] : kUnits) {
      if (unit == name) {
        // The sum must fit milliseconds' int64 (one part alone may not: "10000000000000000s"
        // once came back negative, because kMax - part wrapped around as unsigned).
        constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        std::uint64_t part = 0;
        if (!checked_mul(value, factor, &part) || part > kMax || total > kMax - part)
          return std::nullopt;
        total += part;
        matched = true;
        break;
      }
    }
    if (!matched) return std::nullopt;
    text = rest.substr(unit_len);
  }
  return std::chrono::milliseconds{static_cast<std::int64_t>(total)};
}

std::string format_size(std::uint64_t bytes) {
  static constexpr std::array<std::pair<std::string_view, std::uint64_t>, 4> kExact{
      {{"TB", 1000ULL * 1000 * 1000 * 1000},
       {"GB", 1000ULL * 1000 * 1000},
       {"MB", 1000ULL * 1000},
       {"kB", 1000ULL}}};
  if (bytes == 0) return "0B";
  for (const auto& [name, factor] : kExact) {
    if (bytes >= factor && bytes % factor == 0) return fmt::format("{}{}", bytes / factor, name);
  }
  static constexpr std::array<std::pair<std::string_view, std::uint64_t>, 4> kBinary{
      {{"TiB", 1ULL << 40}, {"GiB", 1ULL << 30}, {"MiB", 1ULL << 20}, {"KiB", 1ULL << 10}}};
  for (const auto& [name, factor] : kBinary) {
    if (bytes >= factor) {
      if (bytes % factor == 0) return fmt::format("{}{}", bytes / factor, name);
      return fmt::format("{:.1f}{}", static_cast<double>(bytes) / static_cast<double>(factor),
                         name);
    }
  }
  return fmt::format("{}B", bytes);
}

std::string format_size_exact(std::uint64_t bytes) {
  std::string shown = format_size(bytes);
  return shown.find('.') == std::string::npos ? shown : std::to_string(bytes);
}

std::string format_duration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms == 0) return "0s";
  if (ms % 1000 != 0) return fmt::format("{}ms", ms);
  auto s = ms / 1000;
  std::string out;
  if (s >= 3600) out += fmt::format("{}h", s / 3600), s %= 3600;
  if (s >= 60) out += fmt::format("{}m", s / 60), s %= 60;
  if (s > 0) out += fmt::format("{}s", s);
  return out;
}

}  // namespace replagent::agent
