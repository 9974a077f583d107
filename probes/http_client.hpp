#pragma once

// A tiny blocking HTTP/1.1 GET for the probe command, bounded by one total timeout.

#include <chrono>
#include <cstdint>
#include <string>

namespace replagent::probes {

struct HttpAnswer {
  bool ok = false;  // a complete response arrived
  int status = 0;
  bool stale = false;  // kStaleHeader was set
  std::string body;
  std::string error;  // why not ok: "connection refused", "timed out after 500ms"
};

// `ip`: a numeric IPv4 or IPv6 address (no brackets).
HttpAnswer http_get(const std::string& ip, std::uint16_t port, const std::string& target,
                    std::chrono::milliseconds timeout);

}  // namespace replagent::probes
