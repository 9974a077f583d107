#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "agent/signals.hpp"

namespace replagent::agent {

// The outcome of one lookup. Not-found and server failure are expected while a StatefulSet is
// coming up (pod 0 not yet created, DNS not yet updated): values, not exceptions.
enum class DnsStatus { kOk, kNotFound, kServerFailure, kTimeout, kError };
const char* to_string(DnsStatus s);

struct DnsAnswer {
  DnsStatus status = DnsStatus::kError;
  // Numeric addresses as the server returned them: dotted IPv4, or IPv6 in RFC 5952 text
  // ("fd00::a", no brackets: what libpq's hostaddr takes). All of one family.
  std::vector<std::string> addresses;
  std::string detail;  // c-ares' message, for logs
};

class Resolver {
 public:
  virtual ~Resolver() = default;
  // The addresses of an absolute name (no search domains, no /etc/hosts): its A records, and
  // only when the name exists but has none, its AAAA records (an IPv6-only cluster). Each
  // query is bounded by the resolver's per-query timeout. A is preferred when both exist: in
  // a dual-stack cluster a pod then connects exactly as in an IPv4 one (pg_hba's
  // postgres.allowed_networks, NetworkPolicies written for the pod IPv4 CIDR keep matching),
  // and one family per answer keeps "the first address" meaningful. (The name predates
  // AAAA; renaming it touches every caller and fake.)
  virtual DnsAnswer resolve_ipv4(const std::string& name) = 0;
};

// True for a numeric IPv6 address without brackets ("::1", "fd00::a").
bool is_ipv6_literal(const std::string& text);
// True for a numeric IPv4 address or an IPv6 literal without brackets: a host libpq takes as
// hostaddr, never a name to resolve.
bool is_ip_literal(const std::string& text);
// `host` as the host part of a URL or "host:port": IPv6 literals in brackets ("[::1]"),
// anything else as is. libpq's host/hostaddr keywords take the bare form instead.
std::string bracket_ipv6(const std::string& host);
// "10.0.0.1:5432", "[fd00::a]:5432", "todo-db-0.todo-db...:5432".
std::string host_port(const std::string& host, int port);

// c-ares against `servers` ("ip" or "ip:port"; empty = /etc/resolv.conf), one try per query
// with `timeout`; a stop cancels a pending query. Throws AgentError(kUsage) for an unparsable
// server list.
std::unique_ptr<Resolver> make_cares_resolver(const std::vector<std::string>& servers,
                                              std::chrono::milliseconds timeout, StopToken stop);

}  // namespace replagent::agent
