// The Beast listener and the probe's client, over loopback on an ephemeral port.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <thread>

#include "probes/http_client.hpp"
#include "probes/http_server.hpp"

namespace replagent::probes {
namespace {

using namespace std::chrono_literals;

TEST(SidecarHttp, ParseListen) {
  struct Case {
    std::string text;
    std::optional<std::pair<std::string, int>> want;
  };
  const Case cases[] = {
      {"0.0.0.0:9187", std::pair{std::string("0.0.0.0"), 9187}},
      {"127.0.0.77:25401", std::pair{std::string("127.0.0.77"), 25401}},
      {":9187", std::pair{std::string("0.0.0.0"), 9187}},
      {"9187", std::pair{std::string("0.0.0.0"), 9187}},
      {"0.0.0.0:0", std::pair{std::string("0.0.0.0"), 0}},
      {"0.0.0.0:65536", std::nullopt},
      {"localhost:9187", std::nullopt},
      {"0.0.0.0:", std::nullopt},
      {"0.0.0.0:9x", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& c : cases) {
    const auto l = parse_listen(c.text);
    ASSERT_EQ(l.has_value(), c.want.has_value()) << c.text;
    if (!l) continue;
    EXPECT_EQ(l->address, c.want->first) << c.text;
    EXPECT_EQ(l->port, c.want->second) << c.text;
  }
}

// Sends raw bytes and returns what comes back until the server closes or 1 s passes.
std::string raw_exchange(std::uint16_t port, const std::string& bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    (void)!::write(fd, bytes.data(), bytes.size());
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

class SidecarHttpServer : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<HttpServer>(ListenAddress{"127.0.0.1", 0}, [this](const Request& r) {
      {
        std::lock_guard lock(mutex_);
        seen_.push_back(r.method + " " + r.target);
      }
      if (r.target == "/throw") throw std::runtime_error("boom");
      Response res;
      res.status = r.target == "/down" ? 503 : 200;
      res.body = "answer for " + r.target + "\n";
      if (r.target == "/down") res.headers.emplace_back(kStaleHeader, "1");
      return res;
    });
    thread_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    server_->stop();
    thread_.join();
  }
  std::uint16_t port() const { return server_->port(); }

  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  std::vector<std::string> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

  std::mutex mutex_;
  std::vector<std::string> seen_;
};

TEST_F(SidecarHttpServer, GetThroughTheProbeClient) {
  const HttpAnswer ok = http_get("127.0.0.1", port(), "/replica?lag=1MB", 1s);
  ASSERT_TRUE(ok.ok) << ok.error;
  EXPECT_EQ(ok.status, 200);
  EXPECT_FALSE(ok.stale);
  EXPECT_EQ(ok.body, "answer for /replica?lag=1MB\n");
  const HttpAnswer down = http_get("127.0.0.1", port(), "/down", 1s);
  EXPECT_EQ(down.status, 503);
  EXPECT_TRUE(down.stale);
  const HttpAnswer err = http_get("127.0.0.1", port(), "/throw", 1s);
  EXPECT_EQ(err.status, 500);
}

TEST_F(SidecarHttpServer, KeepAliveAndHead) {
  const std::string out = raw_exchange(
      port(),
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(out.find("answer for /a"), std::string::npos) << out;
  // HEAD: the length of the GET body, no body.
  EXPECT_EQ(out.find("answer for /b"), std::string::npos) << out;
  EXPECT_NE(out.find("Content-Length: 14"), std::string::npos) << out;
  EXPECT_EQ(seen(), (std::vector<std::string>{"GET /a", "HEAD /b"}));
}

TEST_F(SidecarHttpServer, OversizedRequestIsRefused) {
  const std::string out = raw_exchange(
      port(), "GET /a HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(10000, 'a') + "\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 431", 0), 0u) << out.substr(0, 80);
  const std::string garbage = raw_exchange(port(), "NOT HTTP AT ALL\r\n\r\n");
  EXPECT_EQ(garbage.rfind("HTTP/1.1 400", 0), 0u) << garbage.substr(0, 80);
  EXPECT_TRUE(seen().empty());
}

TEST(SidecarHttp, ClientReportsRefusedAndTimeout) {
  // A bound socket that never listens refuses; one that listens but never answers times out.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::uint16_t port = ntohs(addr.sin_port);
  HttpAnswer a = http_get("127.0.0.1", port, "/", 1s);
  EXPECT_FALSE(a.ok);
  EXPECT_NE(a.error.find("refused"), std::string::npos) << a.error;
  ASSERT_EQ(::listen(fd, 1), 0);
  const auto start = std::chrono::steady_clock::now();
  a = http_get("127.0.0.1", port, "/", 200ms);
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(a.error, "timed out after 200ms");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  ::close(fd);
}

TEST(SidecarHttp, PortInUseIsAStartupError) {
  HttpServer first(ListenAddress{"127.0.0.1", 0}, [](const Request&) { return Response{}; });
  EXPECT_THROW(HttpServer(ListenAddress{"127.0.0.1", first.port()},
                          [](const Request&) { return Response{}; }),
               std::exception);
}

}  // namespace
}  // namespace replagent::probes
