#include "test/support/haproxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

#include "test/support/scratch.hpp"
#include "test/support/sidecar.hpp"

namespace replagent::test {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr const char* kHaproxy = "/usr/sbin/haproxy";

bool accepts(const std::string& ip, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

Haproxy::Haproxy(const fs::path& dir, const std::string& ip, std::vector<Listener> listeners,
                 std::chrono::milliseconds inter)
    : ip_(ip), log_(dir / "haproxy.log") {
  fs::create_directories(dir);
  const std::string inter_ms = std::to_string(inter.count()) + "ms";
  // Logs (health-check state changes among them) go to stdout: no syslog in a test.
  std::string cfg =
      "global\n"
      "  log stdout format raw local0 info\n"
      "  maxconn 64\n"
      "defaults\n"
      "  mode tcp\n"
      "  log global\n"
      "  option log-health-checks\n"
      "  option dontlog-normal\n"
      "  timeout connect 1s\n"
      "  timeout client 30s\n"
      "  timeout server 30s\n";
  for (const auto& l : listeners) {
    const std::uint16_t port = free_tcp_port(ip);
    ports_[l.name] = port;
    // The check lines as Patroni's HAProxy template writes them (GET instead of OPTIONS).
    cfg += "listen " + l.name + "\n" + "  bind " + ip + ":" + std::to_string(port) + "\n" +
           "  balance roundrobin\n" + "  option httpchk GET " + l.check_path + "\n" +
           "  http-check expect status 200\n" + "  default-server inter " + inter_ms +
           " fall 1 rise 1 on-marked-down shutdown-sessions\n";
    for (const auto& s : l.servers) {
      cfg += "  server " + s.name + " " + s.ip + ":" + std::to_string(s.port) + " check port " +
             std::to_string(s.check_port) + "\n";
    }
  }
  start(dir, cfg);
}

Haproxy::Haproxy(const fs::path& dir, const std::string& config, const std::string& ip,
                 std::map<std::string, std::uint16_t> ports)
    : ip_(ip), ports_(std::move(ports)), log_(dir / "haproxy.log") {
  fs::create_directories(dir);
  start(dir, config);
}

void Haproxy::start(const fs::path& dir, const std::string& cfg) {
  const fs::path cfg_path = dir / "haproxy.cfg";
  write_file(cfg_path, cfg);

  SpawnOptions check;
  check.argv = {kHaproxy, "-c", "-f", cfg_path.string()};
  RunResult c = run_process(check, 10s);
  if (c.exit_code() != 0) {
    throw std::runtime_error("haproxy -c " + cfg_path.string() + ": " + c.status.describe() + "\n" +
                             c.out + c.err + "\n" + cfg);
  }

  SpawnOptions opts;
  opts.argv = {kHaproxy, "-db", "-f", cfg_path.string()};
  opts.stdout_path = log_;
  opts.stderr_path = log_;
  process_ = std::make_unique<ChildProcess>(opts);
  const bool up = wait_until(
      [&] {
        if (!process_->running()) return true;
        for (const auto& [name, port] : ports_) {
          if (!accepts(ip_, port)) return false;
        }
        return true;
      },
      10s, 50ms);
  if (auto s = process_->poll()) {
    throw std::runtime_error("haproxy " + s->describe() + ":\n" + log_tail());
  }
  if (!up) throw std::runtime_error("haproxy did not listen within 10 s:\n" + log_tail());
}

Haproxy::~Haproxy() {
  try {
    if (process_->running()) process_->stop(SIGTERM, 5s);
  } catch (const std::exception&) {
  }
}

std::uint16_t Haproxy::port(const std::string& listener) const { return ports_.at(listener); }

std::string Haproxy::conninfo(const std::string& listener) const {
  return "hostaddr=" + ip_ + " port=" + std::to_string(port(listener)) +
         " user=replagent_monitor dbname=postgres connect_timeout=5";
}

std::string Haproxy::log_tail(int lines) const { return tail_file(log_, lines); }

}  // namespace replagent::test
