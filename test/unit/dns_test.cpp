#include "agent/dns.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "agent/errors.hpp"
#include "agent/signals.hpp"

namespace replagent::agent {
namespace {

using std::chrono::milliseconds;

// A UDP socket on 127.0.0.1 that never answers: a DNS server that is up but silent.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentServer() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Waits (up to `limit`) until a query arrives; it is never answered.
  bool wait_for_query(std::chrono::milliseconds limit) const {
    pollfd pfd{fd_, POLLIN, 0};
    return ::poll(&pfd, 1, static_cast<int>(limit.count())) == 1;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(DnsTest, RejectsABadServerListNamingTheEntry) {
  for (const std::string bad :
       {"not-an-ip", "1.2.3.4:99999", "1.2.3.4:0", "1.2.3.4:", "1.2.3.4:53x", "", "300.1.1.1"}) {
    try {
      make_cares_resolver({"127.0.0.1", bad}, milliseconds(500), {});
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const AgentError& e) {
      EXPECT_EQ(e.code(), ExitCode::kUsage);
      EXPECT_NE(std::string(e.what()).find("'" + bad + "'"), std::string::npos) << e.what();
    }
  }
}

TEST(DnsTest, AcceptsIpAndIpPortEntries) {
  EXPECT_NO_THROW(make_cares_resolver({"127.0.0.1", "10.96.0.10:53", "127.0.0.53:5353"},
                                      milliseconds(500), {}));
  EXPECT_NO_THROW(make_cares_resolver({"::1", "[::1]:5353"}, milliseconds(500), {}));
}

TEST(DnsTest, NamesEveryStatus) {
  EXPECT_STREQ(to_string(DnsStatus::kOk), "ok");
  EXPECT_STREQ(to_string(DnsStatus::kNotFound), "not found");
  EXPECT_STREQ(to_string(DnsStatus::kServerFailure), "server failure");
  EXPECT_STREQ(to_string(DnsStatus::kTimeout), "timeout");
  EXPECT_STREQ(to_string(DnsStatus::kError), "error");
}

TEST(DnsTest, SilentServerTimesOut) {
  SilentServer server;
  auto resolver = make_cares_resolver({server.address()}, milliseconds(300), {});
  const auto start = std::chrono::steady_clock::now();
  const auto answer = resolver->resolve_ipv4("todo-db-0.todo-db.default.svc.cluster.local");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(answer.status, DnsStatus::kTimeout) << answer.detail;
  EXPECT_FALSE(answer.detail.empty());
  EXPECT_TRUE(answer.addresses.empty());
}

TEST(DnsTest, NobodyListeningIsTimeoutOrError) {
  SilentServer server;
  const std::string address = server.address();
  server.close();  // the port is now (almost certainly) closed: ICMP port unreachable
  auto resolver = make_cares_resolver({address}, milliseconds(300), {});
  const auto start = std::chrono::steady_clock::now();
  const auto answer = resolver->resolve_ipv4("todo-db-0.todo-db.default.svc.cluster.local");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_TRUE(answer.status == DnsStatus::kTimeout || answer.status == DnsStatus::kError)
      << to_string(answer.status) << ": " << answer.detail;
}

TEST(DnsTest, StopRequestCancelsAPendingQuery) {
  StopSource stop;
  SilentServer server;
  auto resolver = make_cares_resolver({server.address()}, milliseconds(30000), stop.token());
  // The stop arrives while the query is pending (the server has it), not after a guessed delay.
  std::thread stopper([&stop, &server] {
    server.wait_for_query(milliseconds(10000));
    stop.request_stop();
  });
  const auto start = std::chrono::steady_clock::now();
  const auto answer = resolver->resolve_ipv4("todo-db-0.todo-db.default.svc.cluster.local");
  const auto took = std::chrono::steady_clock::now() - start;
  stopper.join();
  EXPECT_EQ(answer.status, DnsStatus::kError) << answer.detail;
  EXPECT_LT(took, std::chrono::seconds(10));
}

}  // namespace
}  // namespace replagent::agent
