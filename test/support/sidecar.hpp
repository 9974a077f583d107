// A pod's `replagent sidecar` as a child process, a minimal HTTP GET to talk to it (independent
// of the product's own client), and SidecarTest: the fixture of the sidecar suites, which stops
// every sidecar it started (SIGTERM, expecting a clean exit) and prints their logs on failure.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "test/support/cluster.hpp"
#include "test/support/pod.hpp"
#include "test/support/process.hpp"

namespace replagent::test {

struct HttpReply {
  int status = 0;  // 0: no complete response (error says why)
  std::string body;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string error;
};

// One HTTP/1.1 GET with `Connection: close`, bounded by `timeout` in total.
HttpReply http_get(const std::string& ip, std::uint16_t port, const std::string& target,
                   std::chrono::milliseconds timeout = std::chrono::seconds(3));

// A TCP port on `ip` that nothing listens on right now (bind to port 0, read it, close). The
// caller's server binds it a moment later; per-test loopback addresses make a race unlikely.
std::uint16_t free_tcp_port(const std::string& ip);

// Percent-encoding for a query value (Prometheus' PromQL in a URL).
std::string url_encode(const std::string& text);

// The sample of `name` whose labels include `labels`, from a Prometheus text exposition;
// nullopt when no such sample exists. Exact label values; no escapes in them.
std::optional<double> metric_value(const std::string& exposition, const std::string& name,
                                   const std::map<std::string, std::string>& labels = {});

// The poll interval the sidecars of the tests use: fast enough for short tests.
inline constexpr std::chrono::milliseconds kSidecarPollInterval{500};

class Sidecar {
 public:
  // Starts `replagent sidecar` with the pod's environment (as the chart sets it for both
  // containers) plus a listener on the pod's address and a free port, a 500 ms poll interval
  // and `extra_env`; returns once /healthz answers 200. Throws with the log on failure.
  Sidecar(Pod& pod, const Env& extra_env = {});
  ~Sidecar();
  Sidecar(const Sidecar&) = delete;
  Sidecar& operator=(const Sidecar&) = delete;

  Pod& pod() { return pod_; }
  const std::string& ip() const { return ip_; }
  std::uint16_t port() const { return port_; }
  std::string address() const { return ip_ + ":" + std::to_string(port_); }
  const Env& env() const { return env_; }
  const std::filesystem::path& log_path() const { return log_; }

  HttpReply get(const std::string& target,
                std::chrono::milliseconds timeout = std::chrono::seconds(3)) const;
  // GET /metrics; throws unless 200.
  std::string metrics() const;
  // One sample from a fresh scrape (see metric_value).
  std::optional<double> metric(const std::string& name,
                               const std::map<std::string, std::string>& labels = {}) const;
  // Waits until `target` answers `status`; false after `timeout`.
  bool wait_status(const std::string& target, int status, std::chrono::milliseconds timeout);

  // `replagent probe KIND [args]` with this sidecar's environment, as the kubelet runs it in the
  // postgres container.
  RunResult probe(const std::string& kind, const std::vector<std::string>& args = {}) const;

  bool running() { return process_->running(); }
  pid_t pid() const { return process_->pid(); }
  // SIGTERM, then waits up to 10 s (SIGKILL after that); idempotent.
  ExitStatus stop();
  std::string log_tail(int lines = 30) const;

 private:
  Pod& pod_;
  std::string ip_;
  std::uint16_t port_ = 0;
  Env env_;
  std::filesystem::path log_;
  std::unique_ptr<ChildProcess> process_;
  std::optional<ExitStatus> stopped_;
};

// Fixture of the sidecar suites: ClusterTest plus the pods' sidecars.
class SidecarTest : public ClusterTest {
 protected:
  // Sidecars first (each must exit 0 on SIGTERM), their logs on failure, then the cluster.
  void TearDown() override;

  Sidecar& start_sidecar(Pod& pod, const Env& extra_env = {});
  // Waits until the pod's sidecar answers `target` with 200 (asserting).
  void expect_eventually_200(Sidecar& s, const std::string& target,
                             std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Primary and `replicas` streaming replicas (pods 0..n), each with a sidecar whose /readyz
  // is 200; a replica's sidecar also has the primary's position (receive lag known).
  void bring_up_with_sidecars(int replicas);
  Sidecar& sidecar(int ordinal);

 private:
  std::vector<std::unique_ptr<Sidecar>> sidecars_;
};

}  // namespace replagent::test
