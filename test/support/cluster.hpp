// ClusterTest: the GoogleTest fixture every integration suite derives from. It owns the
// scratch directory, the loopback addresses, the DNS server and the pods of one test, stops
// them all at the end, and on failure prints the logs and keeps the scratch directory.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "test/support/dns_server.hpp"
#include "test/support/pod.hpp"
#include "test/support/scratch.hpp"

namespace replagent::test {

class ClusterTest : public ::testing::Test {
 protected:
  static constexpr int kMaxPods = 4;

  void SetUp() override;
  void TearDown() override;

  // Pod `ordinal`, created on first use (volume directory, address); no process runs yet.
  Pod& pod(int ordinal);
  // Pod `ordinal` on `ip` instead of its own 127.a.b.x, e.g. "::1" for a pod with only an
  // IPv6 address (its DNS record is then AAAA only). Every pod listens on the set's port, so
  // at most one pod per test can be on "::1"; throws if that port is taken there.
  Pod& pod_on(int ordinal, const std::string& ip);
  DnsServer& dns() { return *dns_; }
  const ScratchDir& scratch() const { return *scratch_; }
  const PodSetConfig& set_config() const { return set_; }

  // The common steps of many tests, each asserting its outcome.
  // Primary: init on an empty volume, start, publish its DNS record.
  void bring_up_primary(Pod& primary);
  // Replica: init (clone), start, wait until the primary sees it streaming.
  void bring_up_replica(Pod& replica, Pod& primary);
  // True once pg_stat_replication on `primary` shows `application_name` streaming.
  bool streaming(Pod& primary, const std::string& application_name);
  // Asserts init's exit code, printing its output when it differs.
  static void expect_exit(const InitResult& r, int code, const std::string& what);
  // A file holding a password, for a pod given other credentials than the set's.
  std::string write_secret(const std::string& name, const std::string& value);

 private:
  std::unique_ptr<ScratchDir> scratch_;
  LoopbackNet net_;
  std::unique_ptr<DnsServer> dns_;
  PodSetConfig set_;
  std::vector<std::unique_ptr<Pod>> pods_;
};

std::string describe(const InitResult& r);

}  // namespace replagent::test
