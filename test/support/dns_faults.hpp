// A cluster DNS that fails on demand, for init's fault tests: a real dnsmasq that answers the
// names it holds records for and forwards every other name under cluster.local to an upstream
// the test controls (UDP on loopback), which answers SERVFAIL, REFUSED or NXDOMAIN, or never.
//
// What dnsmasq 2.90 does with those (seen here): it relays the upstream's SERVFAIL, REFUSED
// and NXDOMAIN as they are; an upstream that never answers, or a closed port on loopback, gets
// the client no reply at all (not even after 60 s), so the client's own timeout ends the query.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "test/support/dns_server.hpp"
#include "test/support/process.hpp"

namespace replagent::test {

// The upstream: one UDP socket and a thread answering each query as `mode` says.
class FaultyUpstream {
 public:
  enum class Mode { kServfail, kRefused, kNxdomain, kSilent };

  FaultyUpstream(const std::string& ip, std::uint16_t port, Mode mode);
  ~FaultyUpstream();
  FaultyUpstream(const FaultyUpstream&) = delete;
  FaultyUpstream& operator=(const FaultyUpstream&) = delete;

  void set_mode(Mode mode) { mode_ = mode; }
  Mode mode() const { return mode_; }
  int queries() const { return queries_; }  // received so far, answered or not
  const std::string& ip() const { return ip_; }
  std::uint16_t port() const { return port_; }

 private:
  void serve();

  std::string ip_;
  std::uint16_t port_;
  int fd_ = -1;
  std::atomic<Mode> mode_;
  std::atomic<int> queries_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

const char* to_string(FaultyUpstream::Mode mode);

// dnsmasq on `ip`:`port` with its own hosts directory under `dir`, forwarding the cluster.local
// names it has no record for to a FaultyUpstream on `upstream_ip`:`port`.
class FaultyDns {
 public:
  FaultyDns(const std::filesystem::path& dir, const std::string& ip, const std::string& upstream_ip,
            std::uint16_t port, FaultyUpstream::Mode mode);
  FaultyDns(const FaultyDns&) = delete;
  FaultyDns& operator=(const FaultyDns&) = delete;

  void set_mode(FaultyUpstream::Mode mode) { upstream_->set_mode(mode); }
  FaultyUpstream& upstream() { return *upstream_; }
  // An A record dnsmasq answers itself; returns once it does.
  void set_record(const std::string& name, const std::string& ip) { dns_.set_record(name, ip); }
  // Back to the upstream's answer; returns once dnsmasq no longer answers with the record.
  void remove_record(const std::string& name) { dns_.remove_record(name); }
  // "ip:port", the format of REPLAGENT_DNS_SERVERS.
  std::string server() const { return dns_.server(); }
  const std::filesystem::path& log_path() const { return dns_.log_path(); }
  DnsReply query(const std::string& name) const { return dns_.query(name); }

 private:
  std::unique_ptr<FaultyUpstream> upstream_;  // first: dnsmasq forwards to it
  DnsServer dns_;
};

// Another address in the /24 of `ip` ("127.a.b.2", 3 -> "127.a.b.3"): the fault servers live
// beside the test's own DNS server, in the subnet the fixture allocated for this test alone.
std::string sibling_ip(const std::string& ip, int last);

}  // namespace replagent::test
