// IPv6-only clusters: addresses in URLs and host:port, the sidecar's listener on [::].
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "agent/dns.hpp"
#include "probes/http_client.hpp"
#include "probes/http_server.hpp"

namespace replagent {
namespace {

TEST(Ipv6Format, BracketsOnlyAroundIpv6Literals) {
  const std::pair<const char*, const char*> cases[] = {
      {"::1", "[::1]:5432"},
      {"fd00:10:244::a", "[fd00:10:244::a]:5432"},
      {"10.244.0.10", "10.244.0.10:5432"},
      {"todo-db-0.todo-db.default.svc.cluster.local",
       "todo-db-0.todo-db.default.svc.cluster.local:5432"},
      {"[::1]", "[::1]:5432"},  // already bracketed: not an IPv6 literal, left alone
  };
  for (const auto& [host, want] : cases) EXPECT_EQ(agent::host_port(host, 5432), want) << host;
  EXPECT_TRUE(agent::is_ipv6_literal("::"));
  EXPECT_FALSE(agent::is_ipv6_literal("127.0.0.1"));
  EXPECT_FALSE(agent::is_ipv6_literal("[::1]"));
  EXPECT_EQ(agent::bracket_ipv6("::"), "[::]");
}

TEST(Ipv6Format, IpLiteralsAreNumericHostsOfEitherFamily) {
  for (const char* ip : {"10.0.0.1", "127.0.0.1", "::1", "fd00::a"})
    EXPECT_TRUE(agent::is_ip_literal(ip)) << ip;
  for (const char* host : {"todo-db-0.todo-db", "localhost", "[::1]", "10.0.0", ""})
    EXPECT_FALSE(agent::is_ip_literal(host)) << host;
}

TEST(Ipv6Format, ListenTakesBracketedIpv6) {
  auto l = probes::parse_listen("[::]:9187");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->address, "::");
  EXPECT_EQ(l->port, 9187);
  l = probes::parse_listen("[fd00::a]:80");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->address, "fd00::a");
  EXPECT_FALSE(probes::parse_listen("[::1:9187"));
  EXPECT_FALSE(probes::parse_listen("[nonsense]:9187"));
  EXPECT_FALSE(probes::parse_listen("::1:9187"));  // ambiguous without brackets
}

// Connects to `family` loopback at `port`, sends a request, returns the status line.
std::string get_status(int family, std::uint16_t port) {
  const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "socket failed";
  int rc;
  if (family == AF_INET6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    a.sin6_port = htons(port);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  std::string out;
  if (rc == 0) {
    const std::string req = "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    (void)!::write(fd, req.data(), req.size());
    char buf[256];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) out.assign(buf, static_cast<std::size_t>(n));
  } else {
    out = "connect failed";
  }
  ::close(fd);
  return out.substr(0, out.find('\r'));
}

// The default (0.0.0.0, "all interfaces") serves IPv6 and IPv4 clients alike: a pod with only
// an IPv6 address is reachable by its kubelet and Prometheus.
TEST(Ipv6Listen, AllInterfacesIsDualStack) {
  probes::HttpServer server(probes::ListenAddress{"0.0.0.0", 0},
                            [](const probes::Request&) { return probes::Response{}; });
  std::thread serving([&] { server.run(); });
  EXPECT_EQ(get_status(AF_INET6, server.port()), "HTTP/1.1 200 OK");
  EXPECT_EQ(get_status(AF_INET, server.port()), "HTTP/1.1 200 OK");
  server.stop();
  serving.join();
}

// The probe reaches a sidecar listening on an IPv6 address (sidecar.listen = [::]:9187 in an
// IPv6-only pod): before, its client took IPv4 only and fell back to checking PostgreSQL
// directly ("bad sidecar address ::1").
TEST(Ipv6Listen, TheProbesClientReachesAnIpv6Sidecar) {
  std::string target;
  probes::HttpServer server(probes::ListenAddress{"::1", 0}, [&](const probes::Request& r) {
    target = r.target;
    return probes::Response{};
  });
  std::thread serving([&] { server.run(); });
  const probes::HttpAnswer answer =
      probes::http_get("::1", server.port(), "/healthz", std::chrono::seconds(5));
  server.stop();
  serving.join();
  EXPECT_TRUE(answer.ok) << answer.error;
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(target, "/healthz");
}

}  // namespace
}  // namespace replagent
