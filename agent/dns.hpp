#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace replagent::agent {

// The outcome of one lookup. Not-found and server failure are expected while a StatefulSet is
// coming up (pod 0 not yet created, DNS not yet updated): values, not exceptions.
enum class DnsStatus { kOk, kNotFound, kServerFailure, kTimeout, kError };
const char* to_string(DnsStatus s);

struct DnsAnswer {
  DnsStatus status = DnsStatus::kError;
  std::vector<std::string> addresses;  // dotted IPv4, as the server returned them
  std::string detail;                  // c-ares' message, for logs
};

class Resolver {
 public:
  virtual ~Resolver() = default;
  // One A-record query for an absolute name (no search domains, no /etc/hosts), bounded by
  // the resolver's per-query timeout.
  virtual DnsAnswer resolve_ipv4(const std::string& name) = 0;
};

// c-ares against `servers` ("ip" or "ip:port"; empty = /etc/resolv.conf), one try per query
// with `timeout`. Throws AgentError(kUsage) for an unparsable server list.
std::unique_ptr<Resolver> make_cares_resolver(const std::vector<std::string>& servers,
                                              std::chrono::milliseconds timeout);

}  // namespace replagent::agent
