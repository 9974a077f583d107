#include "test/support/dns_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <stdexcept>

#include "test/support/scratch.hpp"

namespace replagent::test {
namespace fs = std::filesystem;

namespace {

constexpr const char* kDnsmasq = "/usr/sbin/dnsmasq";
constexpr const char* kProbeName = "harness-probe.svc.cluster.local";

std::string current_user() {
  const passwd* pw = ::getpwuid(::geteuid());
  if (pw == nullptr) throw std::runtime_error("no passwd entry for the current user");
  return pw->pw_name;
}

// One file per name, named after it: set/remove are a rename/unlink of one file.
std::string record_file_name(const std::string& name) { return name + ".hosts"; }

constexpr std::uint16_t kTypeA = 1;
constexpr std::uint16_t kTypeAaaa = 28;

DnsReply query_records(const std::string& server_ip, std::uint16_t port, const std::string& name,
                       std::uint16_t qtype, std::chrono::milliseconds timeout) {
  std::random_device rd;
  const std::uint16_t id = static_cast<std::uint16_t>(rd());
  std::string q;
  auto put16 = [&](std::uint16_t v) {
    q += static_cast<char>(v >> 8);
    q += static_cast<char>(v & 0xff);
  };
  put16(id);
  put16(0x0100);  // standard query, recursion desired
  put16(1);
  put16(0);
  put16(0);
  put16(0);
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    q += static_cast<char>(dot - start);
    q += name.substr(start, dot - start);
    start = dot + 1;
  }
  q += '\0';
  put16(qtype);
  put16(1);  // IN

  DnsReply reply;
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return reply;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, server_ip.c_str(), &addr.sin_addr);
  ::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  pollfd pfd{fd, POLLIN, 0};
  unsigned char buf[1500];
  ssize_t n = -1;
  if (::poll(&pfd, 1, static_cast<int>(timeout.count())) == 1) n = ::recv(fd, buf, sizeof buf, 0);
  ::close(fd);
  if (n < 12 || ((buf[0] << 8) | buf[1]) != id) return reply;
  reply.rcode = buf[3] & 0x0f;
  const int answers = (buf[6] << 8) | buf[7];
  // Skip the echoed question, then read A or AAAA records (dnsmasq compresses names to
  // pointers).
  std::size_t pos = 12;
  auto skip_name = [&]() {
    while (pos < static_cast<std::size_t>(n)) {
      unsigned len = buf[pos];
      if ((len & 0xc0) == 0xc0) {
        pos += 2;
        return;
      }
      pos += 1 + len;
      if (len == 0) return;
    }
  };
  skip_name();
  pos += 4;
  for (int i = 0; i < answers && pos < static_cast<std::size_t>(n); ++i) {
    skip_name();
    if (pos + 10 > static_cast<std::size_t>(n)) break;
    const int type = (buf[pos] << 8) | buf[pos + 1];
    const int rdlen = (buf[pos + 8] << 8) | buf[pos + 9];
    pos += 10;
    if (type == kTypeAaaa && qtype == kTypeAaaa && rdlen == 16 &&
        pos + 16 <= static_cast<std::size_t>(n)) {
      char text[INET6_ADDRSTRLEN];
      if (::inet_ntop(AF_INET6, buf + pos, text, sizeof text) != nullptr)
        reply.addresses.emplace_back(text);
    }
    if (type == kTypeA && qtype == kTypeA && rdlen == 4 && pos + 4 <= static_cast<std::size_t>(n)) {
      reply.addresses.push_back(std::to_string(buf[pos]) + "." + std::to_string(buf[pos + 1]) +
                                "." + std::to_string(buf[pos + 2]) + "." +
                                std::to_string(buf[pos + 3]));
    }
    pos += rdlen;
  }
  return reply;
}

}  // namespace

DnsReply query_a(const std::string& server_ip, std::uint16_t port, const std::string& name,
                 std::chrono::milliseconds timeout) {
  return query_records(server_ip, port, name, kTypeA, timeout);
}

DnsReply query_aaaa(const std::string& server_ip, std::uint16_t port, const std::string& name,
                    std::chrono::milliseconds timeout) {
  return query_records(server_ip, port, name, kTypeAaaa, timeout);
}

DnsServer::DnsServer(const fs::path& dir, const std::string& ip, std::uint16_t port,
                     const std::string& name, const std::string& upstream)
    : hosts_dir_(dir / (name + "-hosts")),
      staging_dir_(dir / (name + "-staging")),
      log_(dir / (name + "masq.log")),
      ip_(ip),
      port_(port),
      upstream_(upstream) {
  fs::create_directories(hosts_dir_);
  fs::create_directories(staging_dir_);
  SpawnOptions opts;
  opts.argv = {kDnsmasq, "--keep-in-foreground", "--conf-file=/dev/null",
               "--no-resolv",  // no upstream but the loopback one below: nothing leaves the machine
               "--no-hosts", "--no-poll",
               // Names under cluster.local are answered from the hosts directory only: an
               // absent pod name is NXDOMAIN, as CoreDNS answers (without this dnsmasq, having
               // no upstream, says REFUSED). With an upstream, its answer instead.
               upstream.empty() ? "--local=/cluster.local/" : "--server=/cluster.local/" + upstream,
               "--listen-address=" + ip, "--bind-interfaces", "--port=" + std::to_string(port),
               "--hostsdir=" + hosts_dir_.string(), "--pid-file=", "--user=" + current_user(),
               "--cache-size=0",  // a removed record disappears at once
               "--log-facility=-", "--log-queries"};
  opts.stdout_path = log_;
  opts.stderr_path = log_;
  process_ = std::make_unique<ChildProcess>(opts);
  set_record(kProbeName, "127.0.0.1");
}

DnsServer::~DnsServer() {
  try {
    if (process_) process_->stop(SIGTERM, std::chrono::seconds(5));
  } catch (const std::exception&) {
    // ~ChildProcess SIGKILLs the group.
  }
}

DnsReply DnsServer::query(const std::string& name) const {
  return query_a(ip_, port_, name, std::chrono::milliseconds(300));
}

DnsReply DnsServer::query_aaaa(const std::string& name) const {
  return test::query_aaaa(ip_, port_, name, std::chrono::milliseconds(300));
}

void DnsServer::set_record(const std::string& name, const std::string& ip) {
  // Written beside, then renamed in: dnsmasq must never read a half-written file.
  fs::path staged = staging_dir_ / record_file_name(name);
  write_file(staged, ip + " " + name + "\n");
  fs::permissions(staged, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                              fs::perms::others_read);
  fs::rename(staged, hosts_dir_ / record_file_name(name));
  in6_addr v6{};
  await(name, true, ::inet_pton(AF_INET6, ip.c_str(), &v6) == 1);
}

void DnsServer::remove_record(const std::string& name) {
  std::error_code ec;
  fs::remove(hosts_dir_ / record_file_name(name), ec);
  await(name, false);
}

void DnsServer::await(const std::string& name, bool present, bool ipv6) {
  const bool ok = wait_until(
      [&] {
        if (auto s = process_->poll()) {
          throw std::runtime_error("dnsmasq " + s->describe() + ":\n" + tail_file(log_, 20));
        }
        DnsReply r = ipv6 ? query_aaaa(name) : query(name);
        const bool has = r.rcode == 0 && !r.addresses.empty();
        // Without a record, the upstream decides (maybe no answer at all).
        return present ? has : upstream_.empty() ? r.rcode == 3 : !has;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(20));
  if (!ok) {
    throw std::runtime_error("dnsmasq at " + server() + " did not " +
                             (present ? "start answering for " : "stop answering for ") + name +
                             ":\n" + tail_file(log_, 20));
  }
}

}  // namespace replagent::test
