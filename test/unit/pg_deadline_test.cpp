// ConnParams::io_timeout in the libpq wrapper, against a fake server on loopback that speaks
// just enough of the frontend/backend protocol (SSL refused, trust authentication, simple
// query) and can stop answering like a SIGSTOPped postmaster: the kernel accepts and ACKs,
// nothing ever comes back.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/pg.hpp"

namespace replagent::agent {
namespace {

using namespace std::chrono_literals;

constexpr std::uint32_t kSslRequest = 80877103;
constexpr std::uint32_t kCancelRequest = 80877102;
constexpr std::uint32_t kBackendPid = 4242;
constexpr std::uint32_t kCancelKey = 0x5eed;

std::string be32(std::uint32_t v) {
  const std::uint32_t n = htonl(v);
  return std::string(reinterpret_cast<const char*>(&n), 4);
}
std::string be16(std::uint16_t v) {
  const std::uint16_t n = htons(v);
  return std::string(reinterpret_cast<const char*>(&n), 2);
}
std::string message(char type, const std::string& payload) {
  return std::string(1, type) + be32(static_cast<std::uint32_t>(payload.size() + 4)) + payload;
}

bool read_exact(int fd, char* buf, std::size_t n) {
  while (n > 0) {
    const ssize_t got = ::recv(fd, buf, n, 0);
    if (got <= 0) return false;
    buf += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}
std::uint32_t read_be32(const char* p) {
  std::uint32_t n = 0;
  std::memcpy(&n, p, 4);
  return ntohl(n);
}
void send_all(int fd, const std::string& bytes) {
  (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
}

// What the fake does after authentication when a query arrives.
enum class OnQuery { kAnswer, kError, kStall };

class FakePostgres {
 public:
  // `answer_startup` false: accept connections and never write a byte (frozen postmaster).
  FakePostgres(bool answer_startup, OnQuery on_query)
      : answer_startup_(answer_startup), on_query_(on_query) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error(std::string("fake postgres: ") + std::strerror(errno));
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~FakePostgres() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    {
      std::lock_guard lock(mutex_);
      for (int fd : conns_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : workers_) t.join();
    for (int fd : conns_) ::close(fd);
    ::close(listen_fd_);
  }

  ConnParams params(std::chrono::milliseconds io_timeout) const {
    ConnParams p;
    p.hostaddr = "127.0.0.1";
    p.port = port_;
    p.user = "postgres";
    p.connect_timeout = 30s;  // so that only io_timeout can end a wait early
    p.io_timeout = io_timeout;
    return p;
  }

  // Waits (bounded) until a cancel request for our backend arrived / the client closed the
  // connection it ran the query on.
  bool wait_cancelled(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [this] { return cancelled_; });
  }
  bool wait_client_closed(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [this] { return client_closed_; });
  }

 private:
  void accept_loop() {
    for (;;) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      if (stopping_) {
        ::close(fd);
        return;
      }
      std::lock_guard lock(mutex_);
      conns_.push_back(fd);
      workers_.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    if (!answer_startup_) {
      char sink[256];
      while (::recv(fd, sink, sizeof sink, 0) > 0) {
      }
      return;
    }
    // Start-up packets: SSLRequest (refused), then the StartupMessage, or a CancelRequest.
    for (;;) {
      char head[8];
      if (!read_exact(fd, head, 8)) return;
      const std::uint32_t len = read_be32(head);
      const std::uint32_t code = read_be32(head + 4);
      std::string rest(len > 8 ? len - 8 : 0, '\0');
      if (!rest.empty() && !read_exact(fd, rest.data(), rest.size())) return;
      if (code == kSslRequest) {
        send_all(fd, "N");
        continue;
      }
      if (code == kCancelRequest) {
        std::lock_guard lock(mutex_);
        cancelled_ = rest.size() == 8 && read_be32(rest.data()) == kBackendPid &&
                     read_be32(rest.data() + 4) == kCancelKey;
        cv_.notify_all();
        return;  // the postmaster closes a cancel connection
      }
      break;  // StartupMessage
    }
    send_all(fd, message('R', be32(0)) + message('K', be32(kBackendPid) + be32(kCancelKey)) +
                     message('Z', "I"));
    for (;;) {
      char type = 0;
      char lenbuf[4];
      if (!read_exact(fd, &type, 1) || !read_exact(fd, lenbuf, 4) || type == 'X') break;
      std::string body(read_be32(lenbuf) - 4, '\0');
      if (!read_exact(fd, body.data(), body.size())) break;
      // A simple query ('Q'), or the extended protocol's Parse/Bind/Describe/Execute ended
      // by Sync ('S'): one answer each.
      if (type != 'Q' && type != 'S') continue;
      if (on_query_ == OnQuery::kStall) continue;  // read on, answer nothing
      const std::string extended = type == 'S' ? message('1', "") + message('2', "") : "";
      if (on_query_ == OnQuery::kError) {
        send_all(fd, message('E', std::string("SERROR") + '\0' + "C42601" + '\0' + "Mboom" + '\0' +
                                      '\0') +
                         message('Z', "I"));
        continue;
      }
      const std::string field = std::string("x") + '\0' + be32(0) + be16(0) + be32(25) +
                                be16(0xffff) + be32(0xffffffff) + be16(0);
      send_all(fd, extended + message('T', be16(1) + field) +
                       message('D', be16(1) + be32(2) + "42") +
                       message('C', std::string("SELECT 1") + '\0') + message('Z', "I"));
    }
    std::lock_guard lock(mutex_);
    client_closed_ = true;
    cv_.notify_all();
  }

  bool answer_startup_;
  OnQuery on_query_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<int> conns_;
  std::vector<std::thread> workers_;
  bool cancelled_ = false;
  bool client_closed_ = false;
};

using Clock = std::chrono::steady_clock;

TEST(PgDeadline, ConnectToAServerThatNeverAnswersTimesOut) {
  FakePostgres server(false, OnQuery::kAnswer);
  auto pg = make_libpq_client();
  PgError err;
  const auto start = Clock::now();
  auto session = pg->connect(server.params(300ms), &err);
  const auto took = Clock::now() - start;
  EXPECT_EQ(session, nullptr);
  EXPECT_TRUE(err.timed_out) << err.message;
  EXPECT_NE(err.message.find("no answer within 300ms while connecting"), std::string::npos)
      << err.message;
  EXPECT_GE(took, 300ms);
  // connect_timeout is 30 s: only io_timeout can have ended the wait this early.
  EXPECT_LT(took, 15s);
}

TEST(PgDeadline, AnsweredQueryWithinTheDeadline) {
  FakePostgres server(true, OnQuery::kAnswer);
  auto pg = make_libpq_client();
  PgError err;
  auto session = pg->connect(server.params(5s), &err);
  ASSERT_NE(session, nullptr) << err.message;
  QueryResult r;
  auto e = session->exec("SELECT 42 AS x", &r);
  ASSERT_FALSE(e) << e->message;
  ASSERT_EQ(r.columns, std::vector<std::string>{"x"});
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0][0], std::optional<std::string>("42"));
  // The session stays usable, also through the parameterised (extended protocol) path.
  r = {};
  e = session->exec_params("SELECT $1 AS x", {"42"}, &r);
  ASSERT_FALSE(e) << e->message;
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0][0], std::optional<std::string>("42"));
}

TEST(PgDeadline, ServerErrorWithinTheDeadlineKeepsItsSqlstate) {
  FakePostgres server(true, OnQuery::kError);
  auto pg = make_libpq_client();
  PgError err;
  auto session = pg->connect(server.params(5s), &err);
  ASSERT_NE(session, nullptr) << err.message;
  auto e = session->exec("SELEC 1", nullptr);
  ASSERT_TRUE(e);
  EXPECT_FALSE(e->timed_out);
  EXPECT_EQ(e->sqlstate, "42601");
  EXPECT_EQ(e->message, "boom");
  // Not a broken connection: the next statement runs.
  e = session->exec("SELEC 1", nullptr);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->sqlstate, "42601");
}

TEST(PgDeadline, StalledQueryTimesOutIsCancelledAndClosesTheSession) {
  FakePostgres server(true, OnQuery::kStall);
  auto pg = make_libpq_client();
  PgError err;
  auto session = pg->connect(server.params(300ms), &err);
  ASSERT_NE(session, nullptr) << err.message;
  QueryResult r;
  const auto start = Clock::now();
  auto e = session->exec("SELECT pg_sleep(3600)", &r);
  const auto took = Clock::now() - start;
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->timed_out) << e->message;
  EXPECT_NE(e->message.find("no answer within 300ms to a statement"), std::string::npos)
      << e->message;
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 15s);
  // The server got a cancel request for that backend, and the connection was closed.
  EXPECT_TRUE(server.wait_cancelled(10s));
  EXPECT_TRUE(server.wait_client_closed(10s));
  // The session refuses further statements instead of waiting again.
  e = session->exec("SELECT 1", &r);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->timed_out);
  EXPECT_NE(e->message.find("closed after an earlier timeout"), std::string::npos) << e->message;
}

}  // namespace
}  // namespace replagent::agent
