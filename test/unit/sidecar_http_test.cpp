// The Beast listener and the probe's client, over loopback on an ephemeral port.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
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

std::string get_close(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
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
        authorizations_.push_back(r.authorization);
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

  std::vector<std::string> authorizations() {
    std::lock_guard lock(mutex_);
    return authorizations_;
  }

  std::mutex mutex_;
  std::vector<std::string> seen_;
  std::vector<std::string> authorizations_;
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

// A body over kMaxBodyBytes is 413 Payload Too Large (RFC 9110 15.5.14), declared up front
// or found while reading a chunked one; 431 stays for oversized header fields.
TEST_F(SidecarHttpServer, OversizedBodyIs413) {
  const std::string declared =
      raw_exchange(port(), "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n" +
                               std::string(2000, 'b'));
  EXPECT_EQ(declared.rfind("HTTP/1.1 413", 0), 0u) << declared.substr(0, 80);
  const std::string chunked = raw_exchange(
      port(), "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" +
                  std::string(2000, 'b') + "\r\n0\r\n\r\n");
  EXPECT_EQ(chunked.rfind("HTTP/1.1 413", 0), 0u) << chunked.substr(0, 80);
  // A body within the limit is read and the request answered.
  const std::string small = raw_exchange(
      port(), "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
  EXPECT_EQ(small.rfind("HTTP/1.1 200", 0), 0u) << small.substr(0, 80);
  EXPECT_EQ(seen(), (std::vector<std::string>{"POST /a"}));
}

// The routes decide what a bearer token opens (routes.hpp); the listener hands them the header.
TEST_F(SidecarHttpServer, AuthorizationHeaderReachesTheHandler) {
  const std::string out =
      raw_exchange(port(),
                   "GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0ken\r\n\r\n"
                   "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(out.find("answer for /status"), std::string::npos) << out;
  EXPECT_EQ(authorizations(), (std::vector<std::string>{"Bearer t0ken", ""}));
}

// Every answer, the handler's and the listener's own errors alike, tells browsers not to
// guess a content type (a body that echoes request bytes must never be sniffed as HTML).
TEST_F(SidecarHttpServer, EveryResponseSaysNosniff) {
  const std::string requests[] = {
      get_close("/a"),                                                                 // 200
      get_close("/down"),                                                              // 503
      get_close("/throw"),                                                             // 500
      "HEAD /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",                      // HEAD
      "GET /a HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(10000, 'a') + "\r\n\r\n",  // 431
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n",                   // 413
      "NOT HTTP AT ALL\r\n\r\n",                                                       // 400
  };
  for (const auto& request : requests) {
    const std::string out = raw_exchange(port(), request);
    const std::string head = out.substr(0, out.find("\r\n\r\n") + 2);  // each line ends in CRLF
    EXPECT_NE(head.find("\r\nX-Content-Type-Options: nosniff\r\n"), std::string::npos)
        << request.substr(0, 40) << " -> " << head;
  }
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

// --- limits: connections, slow and idle clients ---

// One client connection held open across requests (blocking socket, receive timeout).
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawConnection() { ::close(fd_); }
  bool connected() const { return connected_; }
  bool send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // Reads until `text` has arrived; false on EOF, error or the 5 s receive timeout.
  bool read_until(const std::string& text) {
    char buf[4096];
    while (received_.find(text) == std::string::npos) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return false;
      received_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  // True when the server closes the connection (EOF or reset) within the receive timeout.
  bool closed_by_server() {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
      received_.append(buf, static_cast<std::size_t>(n));
    }
  }
  const std::string& received() const { return received_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string received_;
};

std::string get(const std::string& path, bool close = false) {
  return "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + (close ? "Connection: close\r\n" : "") +
         "\r\n";
}

class LimitedServer {
 public:
  explicit LimitedServer(HttpLimits limits)
      : server_(
            ListenAddress{"127.0.0.1", 0},
            [](const Request& r) {
              Response res;
              res.body = "answer for " + r.target + "\n";
              return res;
            },
            limits),
        thread_([this] { server_.run(); }) {}
  ~LimitedServer() {
    server_.stop();
    thread_.join();
  }
  std::uint16_t port() const { return server_.port(); }
  bool wait_open(std::size_t n) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (server_.open_connections() != n) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }
  std::size_t open() const { return server_.open_connections(); }

 private:
  HttpServer server_;
  std::thread thread_;
};

TEST(SidecarHttpLimits, AtTheLimitTheLongestIdleConnectionMakesRoom) {
  LimitedServer server(HttpLimits{.max_connections = 2});
  RawConnection a(server.port());
  ASSERT_TRUE(a.connected());
  ASSERT_TRUE(a.send(get("/a")) && a.read_until("answer for /a\n")) << a.received();
  RawConnection b(server.port());
  ASSERT_TRUE(b.send(get("/b")) && b.read_until("answer for /b\n")) << b.received();
  ASSERT_TRUE(server.wait_open(2)) << server.open();

  // A third client (a kubelet probe) is served, not queued behind two idle keep-alive
  // connections: the one idle longest (a) is closed for it.
  const std::string c = raw_exchange(server.port(), get("/c", true));
  EXPECT_NE(c.find("answer for /c"), std::string::npos) << c;
  EXPECT_TRUE(a.closed_by_server());
  // b was idle for less time and keeps working.
  EXPECT_TRUE(b.send(get("/b2")) && b.read_until("answer for /b2\n")) << b.received();
  // Closed connections are forgotten: b is the only one left.
  EXPECT_TRUE(server.wait_open(1)) << server.open();
}

TEST(SidecarHttpLimits, ManyClientsAtOnceNeverExceedTheLimitAndAllAreAnswered) {
  LimitedServer server(HttpLimits{.max_connections = 4});
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 12; ++i) {
    idle.push_back(std::make_unique<RawConnection>(server.port()));
    ASSERT_TRUE(idle.back()->connected());
    // The server holds at most the limit, plus the one just accepted while another closes.
    EXPECT_LE(server.open(), 5u);
  }
  // Every new client is still answered while the idle ones are being closed.
  for (int i = 0; i < 5; ++i) {
    const std::string out = raw_exchange(server.port(), get("/x" + std::to_string(i), true));
    EXPECT_NE(out.find("answer for /x" + std::to_string(i)), std::string::npos) << out;
  }
  EXPECT_LE(server.open(), 5u);
}

TEST(SidecarHttpLimits, SlowOrSilentClientIsCutOff) {
  LimitedServer server(HttpLimits{.request_timeout = 300ms});
  RawConnection silent(server.port());
  RawConnection slow(server.port());
  ASSERT_TRUE(silent.connected() && slow.connected());
  ASSERT_TRUE(slow.send("GET /slow HTTP/1.1\r\nHost: x\r\n"));  // never finishes its headers
  EXPECT_TRUE(silent.closed_by_server());
  EXPECT_TRUE(slow.closed_by_server());
  EXPECT_EQ(slow.received(), "");
  EXPECT_TRUE(server.wait_open(0)) << server.open();
  // The server itself goes on.
  const std::string out = raw_exchange(server.port(), get("/after", true));
  EXPECT_NE(out.find("answer for /after"), std::string::npos) << out;
}

}  // namespace
}  // namespace replagent::probes
