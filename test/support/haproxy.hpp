// HAProxy (Debian's /usr/sbin/haproxy) in the foreground on one loopback address, routing
// PostgreSQL connections (mode tcp) by the sidecars' HTTP checks, as a Patroni-style
// `option httpchk` config does in front of a StatefulSet.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "test/support/process.hpp"

namespace replagent::test {

class Haproxy {
 public:
  struct Server {
    std::string name;  // todo-db-N
    std::string ip;
    std::uint16_t port = 0;        // PostgreSQL
    std::uint16_t check_port = 0;  // the pod's sidecar
  };
  struct Listener {
    std::string name;        // "primary", "replicas"
    std::string check_path;  // "/primary", "/replica?lag=1MB"
    std::vector<Server> servers;
  };

  // Writes `dir`/haproxy.cfg (checks every `inter`, one failed check marks a server down, one
  // good one up), validates it with `haproxy -c`, starts haproxy, and returns once every
  // listener accepts TCP connections on `ip` (each on a free port). Throws with the log.
  Haproxy(const std::filesystem::path& dir, const std::string& ip, std::vector<Listener> listeners,
          std::chrono::milliseconds inter = std::chrono::seconds(1));
  // Runs a ready-made config (a recipe with the test's addresses swapped in) whose listeners
  // bind `ip` at `ports` (name -> port); same checks and start-up as above.
  Haproxy(const std::filesystem::path& dir, const std::string& config, const std::string& ip,
          std::map<std::string, std::uint16_t> ports);
  ~Haproxy();
  Haproxy(const Haproxy&) = delete;
  Haproxy& operator=(const Haproxy&) = delete;

  const std::string& ip() const { return ip_; }
  std::uint16_t port(const std::string& listener) const;
  // A libpq conninfo that goes through the listener, as the monitoring role (an ordinary role,
  // like an application's: the superuser may not log in over TCP); its password is the set's
  // monitor_password.
  std::string conninfo(const std::string& listener) const;
  std::string log_tail(int lines = 30) const;

 private:
  void start(const std::filesystem::path& dir, const std::string& config);

  std::string ip_;
  std::map<std::string, std::uint16_t> ports_;
  std::filesystem::path log_;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace replagent::test
