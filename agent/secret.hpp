#pragma once

#include <fmt/format.h>

#include <ostream>
#include <string>
#include <utility>

namespace replagent::agent {

// A password. It formats as "[redacted]" everywhere (fmt, spdlog, ostream), so a secret that
// slips into a log line or the `config` output shows nothing. reveal() is the only way out,
// used by the pg wrapper (connection parameter) and the passfile writer.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}

  const std::string& reveal() const { return value_; }
  bool empty() const { return value_.empty(); }
  bool operator==(const Secret&) const = default;

 private:
  std::string value_;
};

inline std::ostream& operator<<(std::ostream& os, const Secret& s) {
  return os << (s.empty() ? "" : "[redacted]");
}

}  // namespace replagent::agent

template <>
struct fmt::formatter<replagent::agent::Secret> : fmt::formatter<std::string_view> {
  template <typename Ctx>
  auto format(const replagent::agent::Secret& s, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(s.empty() ? "" : "[redacted]", ctx);
  }
};
