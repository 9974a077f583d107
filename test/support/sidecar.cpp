#include "test/support/sidecar.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "test/support/scratch.hpp"

#ifndef REPLAGENT_BINARY
#error "REPLAGENT_BINARY must name the replagent executable (set by test/CMakeLists.txt)"
#endif

namespace replagent::test {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

sockaddr_in ipv4(const std::string& ip, std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
    throw std::invalid_argument("not an IPv4 address: " + ip);
  }
  return addr;
}

void set_timeouts(int fd, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  // On Linux SO_SNDTIMEO also bounds connect().
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r' || s.back() == '\n')) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

}  // namespace

HttpReply http_get(const std::string& ip, std::uint16_t port, const std::string& target,
                   std::chrono::milliseconds timeout) {
  HttpReply reply;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Fd s{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (s.fd < 0) {
    reply.error = std::string("socket: ") + std::strerror(errno);
    return reply;
  }
  set_timeouts(s.fd, timeout);
  const sockaddr_in addr = ipv4(ip, port);
  if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    reply.error = "connect " + ip + ":" + std::to_string(port) + ": " + std::strerror(errno);
    return reply;
  }
  const std::string request = "GET " + target + " HTTP/1.1\r\nHost: " + ip + ":" +
                              std::to_string(port) +
                              "\r\nUser-Agent: replagent-test\r\nConnection: close\r\n\r\n";
  if (::send(s.fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    reply.error = std::string("send: ") + std::strerror(errno);
    return reply;
  }
  std::string raw;
  char buf[16384];
  for (;;) {
    if (std::chrono::steady_clock::now() > deadline) {
      reply.error = "timed out after " + std::to_string(timeout.count()) + " ms";
      return reply;
    }
    const ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      reply.error = std::string("recv: ") + std::strerror(errno);
      return reply;
    }
    raw.append(buf, static_cast<std::size_t>(n));
  }
  const auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || raw.rfind("HTTP/1.", 0) != 0) {
    reply.error = "malformed response: " + raw.substr(0, 200);
    return reply;
  }
  std::istringstream head(raw.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  const auto sp = line.find(' ');
  reply.status = sp == std::string::npos ? 0 : std::atoi(line.c_str() + sp + 1);
  while (std::getline(head, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    reply.headers[to_lower(line.substr(0, colon))] = trim(line.substr(colon + 1));
  }
  reply.body = raw.substr(head_end + 4);
  if (auto it = reply.headers.find("content-length"); it != reply.headers.end()) {
    const auto length = static_cast<std::size_t>(std::stoull(it->second));
    if (reply.body.size() < length) {
      reply.status = 0;
      reply.error = "short body: " + std::to_string(reply.body.size()) + " of " + it->second;
    }
  }
  return reply;
}

std::uint16_t free_tcp_port(const std::string& ip) {
  Fd s{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  sockaddr_in addr = ipv4(ip, 0);
  socklen_t len = sizeof addr;
  if (s.fd < 0 || ::bind(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(s.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("no free TCP port on " + ip + ": " + std::strerror(errno));
  }
  return ntohs(addr.sin_port);
}

std::string url_encode(const std::string& text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::optional<double> metric_value(const std::string& exposition, const std::string& name,
                                   const std::map<std::string, std::string>& labels) {
  std::istringstream in(exposition);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    if (line.compare(0, name.size(), name) != 0) continue;
    std::size_t pos = name.size();
    std::map<std::string, std::string> have;
    if (pos < line.size() && line[pos] == '{') {
      const auto close = line.find('}', pos);
      if (close == std::string::npos) continue;
      const std::string body = line.substr(pos + 1, close - pos - 1);
      std::size_t i = 0;
      while (i < body.size()) {
        const auto eq = body.find("=\"", i);
        if (eq == std::string::npos) break;
        const auto end = body.find('"', eq + 2);
        if (end == std::string::npos) break;
        have[body.substr(i, eq - i)] = body.substr(eq + 2, end - eq - 2);
        i = end + 1;
        if (i < body.size() && body[i] == ',') ++i;
      }
      pos = close + 1;
    }
    if (pos >= line.size() || line[pos] != ' ') continue;  // a longer name with this prefix
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = have.find(k);
      if (it == have.end() || it->second != v) match = false;
    }
    if (!match) continue;
    try {
      return std::stod(line.substr(pos + 1));
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

Sidecar::Sidecar(Pod& pod, const Env& extra_env) : pod_(pod), ip_(pod.ip()) {
  port_ = free_tcp_port(ip_);
  env_ = pod.init_env();
  env_["REPLAGENT_SIDECAR_LISTEN"] = address();
  env_["REPLAGENT_SIDECAR_POLL_INTERVAL"] = std::to_string(kSidecarPollInterval.count()) + "ms";
  for (const auto& [k, v] : extra_env) env_[k] = v;
  // A fixed listener given by the test (a recipe's port 9187) instead of the free port.
  if (auto it = extra_env.find("REPLAGENT_SIDECAR_LISTEN"); it != extra_env.end())
    port_ = static_cast<std::uint16_t>(std::stoi(it->second.substr(it->second.rfind(':') + 1)));
  log_ = pod.postgres_log().parent_path() / (pod.name() + ".sidecar.log");
  fs::create_directories(log_.parent_path());
  SpawnOptions opts;
  opts.argv = {REPLAGENT_BINARY, "--log-level", "debug", "sidecar"};
  opts.env = env_;
  opts.stdout_path = log_;
  opts.stderr_path = log_;
  // If the test dies, the sidecar gets the kubelet's stop request.
  opts.parent_death_signal = SIGTERM;
  process_ = std::make_unique<ChildProcess>(opts);
  HttpReply last;
  const bool up = wait_until(
      [&] {
        if (!process_->running()) return true;  // reported below
        last = get("/healthz", 1s);
        return last.status == 200;
      },
      15s, 50ms);
  if (auto s = process_->poll()) {
    throw std::runtime_error(pod.name() + ": replagent sidecar " + s->describe() + ":\n" +
                             log_tail());
  }
  if (!up) {
    throw std::runtime_error(pod.name() + ": sidecar /healthz not 200 within 15 s (last: " +
                             std::to_string(last.status) + " " + last.error + last.body + "):\n" +
                             log_tail());
  }
}

Sidecar::~Sidecar() {
  try {
    stop();
  } catch (const std::exception&) {
    // ~ChildProcess SIGKILLs the group.
  }
}

HttpReply Sidecar::get(const std::string& target, std::chrono::milliseconds timeout) const {
  return http_get(ip_, port_, target, timeout);
}

std::string Sidecar::metrics() const {
  HttpReply r = get("/metrics");
  if (r.status != 200) {
    throw std::runtime_error(pod_.name() + ": GET /metrics: " + std::to_string(r.status) + " " +
                             r.error + r.body);
  }
  return r.body;
}

std::optional<double> Sidecar::metric(const std::string& name,
                                      const std::map<std::string, std::string>& labels) const {
  return metric_value(metrics(), name, labels);
}

bool Sidecar::wait_status(const std::string& target, int status,
                          std::chrono::milliseconds timeout) {
  return wait_until([&] { return get(target, 1s).status == status; }, timeout, 100ms);
}

RunResult Sidecar::probe(const std::string& kind, const std::vector<std::string>& args) const {
  SpawnOptions opts;
  opts.argv = {REPLAGENT_BINARY, "probe", kind};
  opts.argv.insert(opts.argv.end(), args.begin(), args.end());
  opts.env = env_;
  return run_process(opts, 10s);
}

ExitStatus Sidecar::stop() {
  if (!stopped_) stopped_ = process_->stop(SIGTERM, 10s);
  return *stopped_;
}

std::string Sidecar::log_tail(int lines) const { return tail_file(log_, lines); }

// --- SidecarTest ---

void SidecarTest::TearDown() {
  const bool failed = HasFailure();
  for (auto& s : sidecars_) {
    if (failed) {
      std::cerr << "---- " << s->pod().name() << " sidecar log " << s->log_path().string() << ":\n"
                << s->log_tail(40);
    }
    const ExitStatus st = s->stop();
    // Graceful shutdown on SIGTERM: the kubelet's stop, answered with exit 0.
    EXPECT_TRUE(st.exited && st.code == 0)
        << s->pod().name() << " sidecar on SIGTERM: " << st.describe() << "\n"
        << s->log_tail(10);
  }
  sidecars_.clear();
  ClusterTest::TearDown();
}

Sidecar& SidecarTest::start_sidecar(Pod& pod, const Env& extra_env) {
  sidecars_.push_back(std::make_unique<Sidecar>(pod, extra_env));
  return *sidecars_.back();
}

Sidecar& SidecarTest::sidecar(int ordinal) {
  for (auto& s : sidecars_) {
    if (s->pod().ordinal() == ordinal) return *s;
  }
  throw std::out_of_range("no sidecar for pod " + std::to_string(ordinal));
}

void SidecarTest::expect_eventually_200(Sidecar& s, const std::string& target,
                                        std::chrono::milliseconds timeout) {
  HttpReply last;
  const bool ok = wait_until(
      [&] {
        last = s.get(target, 1s);
        return last.status == 200;
      },
      timeout, 100ms);
  ASSERT_TRUE(ok) << s.pod().name() << " GET " << target << " not 200 within " << timeout.count()
                  << " ms; last: " << last.status << " " << last.error << last.body;
}

void SidecarTest::bring_up_with_sidecars(int replicas) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  for (int i = 1; i <= replicas; ++i) ASSERT_NO_FATAL_FAILURE(bring_up_replica(pod(i), primary));
  for (int i = 0; i <= replicas; ++i) start_sidecar(pod(i));
  for (int i = 0; i <= replicas; ++i)
    ASSERT_NO_FATAL_FAILURE(expect_eventually_200(sidecar(i), "/readyz"));
  ASSERT_NO_FATAL_FAILURE(expect_eventually_200(sidecar(0), "/primary"));
  for (int i = 1; i <= replicas; ++i) {
    ASSERT_NO_FATAL_FAILURE(expect_eventually_200(sidecar(i), "/replica"));
    // The replica's WAL receiver has heard the primary's position: lag is measured against it.
    HttpReply status;
    ASSERT_TRUE(wait_until(
        [&] {
          status = sidecar(i).get("/status");
          return status.status == 200 &&
                 status.body.find("\"primary_error\"") == std::string::npos &&
                 status.body.find("\"primary\":null") == std::string::npos;
        },
        20s))
        << pod(i).name() << " sidecar did not reach the primary; /status: " << status.body;
  }
}

}  // namespace replagent::test
