// Prometheus as the sidecars' consumers run it: `promtool check metrics` on one scrape, and a
// real server (Debian's /usr/bin/prometheus) on one loopback address, scraping every second,
// asked through its HTTP API.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "test/support/process.hpp"
#include "test/support/sidecar.hpp"

namespace replagent::test {

// `promtool check metrics` with `exposition` on stdin (through a file in `dir`): exit 0 clean,
// 3 lint problems, 1 parse error; the findings are on stdout/stderr.
RunResult promtool_check_metrics(const std::string& exposition, const std::filesystem::path& dir,
                                 const std::string& name);

class PrometheusServer {
 public:
  struct Target {
    std::string address;  // ip:port of a sidecar
    std::string pod;      // the `pod` label Prometheus attaches
  };

  // Writes `dir`/prometheus.yml (scrape_interval 1s, job "replagent"), starts Prometheus with
  // its TSDB in `dir`, on `ip` and a free port, and returns once /-/ready answers 200.
  PrometheusServer(const std::filesystem::path& dir, const std::string& ip,
                   const std::vector<Target>& targets);
  ~PrometheusServer();
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  // GET /api/v1/query?query=<promql>; the JSON answer is in body.
  HttpReply query(const std::string& promql) const;
  std::string address() const { return ip_ + ":" + std::to_string(port_); }
  std::string log_tail(int lines = 30) const;

 private:
  std::string ip_;
  std::uint16_t port_ = 0;
  std::filesystem::path log_;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace replagent::test
