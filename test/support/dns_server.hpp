// The "cluster DNS" of a test: dnsmasq on one loopback address and port, serving A records from
// a hosts directory, NXDOMAIN for every other name under cluster.local.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "test/support/process.hpp"

namespace replagent::test {

// What one A (or AAAA) query returned: rcode (0 NOERROR, 3 NXDOMAIN, 5 REFUSED) and the
// addresses (dotted IPv4, or IPv6 as inet_ntop writes it).
struct DnsReply {
  int rcode = -1;  // -1: no reply within the timeout
  std::vector<std::string> addresses;
};
// A minimal UDP A query, independent of the product's resolver, so the harness can prove its
// DNS server works before the product is involved.
DnsReply query_a(const std::string& server_ip, std::uint16_t port, const std::string& name,
                 std::chrono::milliseconds timeout);
// The same for AAAA records (an IPv6 pod's record).
DnsReply query_aaaa(const std::string& server_ip, std::uint16_t port, const std::string& name,
                    std::chrono::milliseconds timeout);

class DnsServer {
 public:
  // Starts dnsmasq with its hosts directory, pid-less, logging queries to `dir`/<name>.log,
  // and returns once it answers.
  // Names under cluster.local without a record are NXDOMAIN, as CoreDNS answers, unless
  // `upstream` ("ip#port") is given: then dnsmasq forwards them there and relays its answer.
  DnsServer(const std::filesystem::path& dir, const std::string& ip, std::uint16_t port,
            const std::string& name = "dns", const std::string& upstream = "");
  ~DnsServer();

  // An IPv4 address gives the name an A record, an IPv6 one ("::1") an AAAA record only.
  void set_record(const std::string& name, const std::string& ip);
  void remove_record(const std::string& name);
  // "ip:port", the format of REPLAGENT_DNS_SERVERS.
  std::string server() const { return ip_ + ":" + std::to_string(port_); }
  const std::string& ip() const { return ip_; }
  std::uint16_t port() const { return port_; }
  const std::filesystem::path& log_path() const { return log_; }
  DnsReply query(const std::string& name) const;
  DnsReply query_aaaa(const std::string& name) const;

 private:
  // Waits until a query for `name` gives `present` (an A record, or with `ipv6` an AAAA
  // record) or not; dnsmasq rereads the hosts directory on inotify events, asynchronously.
  void await(const std::string& name, bool present, bool ipv6 = false);

  std::filesystem::path hosts_dir_;
  std::filesystem::path staging_dir_;
  std::filesystem::path log_;
  std::string ip_;
  std::uint16_t port_;
  std::string upstream_;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace replagent::test
