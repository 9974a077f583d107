// Fault matrix row 9: the sidecar under 200 concurrent HTTP clients for 10 s on loopback.
// Every response must be well-formed (HTTP/1.1, the status the pod's role implies, a
// Content-Length that matches the body, a parseable body), no request may fail (connect
// errors, resets and timeouts count), and the sidecar's RSS must stay flat after a warm-up.
//
// The clients are Boost.Beast async clients on one io_context in the test process: a third
// open a new connection per request, a third keep one connection for the whole run, a third
// keep one for 20 requests and then reconnect, so accept, keep-alive and close paths all run.
#include <unistd.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>  // Boost 1.74 asio needs std::exchange under -std=c++20
#include <vector>

#include "test/support/prometheus.hpp"
#include "test/support/sidecar.hpp"
#include "test/support/soak_checks.hpp"

namespace replagent::test {
namespace {
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr int kClients = 200;
constexpr auto kDuration = 10s;
// A request that takes this long counts as failed: the kubelet's default probe timeout is 1 s,
// so 5 s is a hang, not a slow answer on a loaded machine.
constexpr auto kRequestTimeout = 5s;
constexpr int kRequestsPerKeptConnection = 20;
// RSS is sampled every second; the first samples cover connection set-up and the first
// scrapes (allocator arenas, prometheus-cpp families) and are the warm-up.
constexpr auto kWarmUp = 2s;
// Growth allowed after the warm-up. At the few thousand requests per second seen here, a leak
// of 64 bytes per request would add about 2 MiB in the 8 s measured; page-granular allocator
// noise is a few hundred KiB.
constexpr long kMaxRssGrowthKiB = 2048;

// The checks themselves (an exposition, a JSON body, RSS, open descriptors) are in
// test/support/soak_checks.hpp; here, that they tell good from bad.
TEST(SidecarSoakChecks, RecognisersAcceptGoodAndRejectBad) {
  EXPECT_EQ(check_exposition("# HELP a x\n# TYPE a gauge\na 1\nb{x=\"y\",z=\"\\\"\"} 2.5e3\n"
                             "c_bucket{le=\"+Inf\"} 3\nd NaN\n"),
            "");
  EXPECT_NE(check_exposition("a 1"), "");
  EXPECT_NE(check_exposition("a\n"), "");
  EXPECT_NE(check_exposition("a{x=y} 1\n"), "");
  EXPECT_NE(check_exposition("a 1x\n"), "");
  EXPECT_NE(check_exposition("9a 1\n"), "");
  EXPECT_TRUE(is_json(R"({"a":[1,-2.5e3,true,null,"x\"y\u00e9"],"b":{}})"));
  EXPECT_FALSE(is_json(R"({"a":1,})"));
  EXPECT_FALSE(is_json(R"({"a":01})"));
  EXPECT_FALSE(is_json(R"({"a":1}x)"));
  EXPECT_FALSE(is_json(R"({"a":"x)"));
  EXPECT_FALSE(is_json(""));
}

// --- the load ---

struct Endpoint {
  std::string target;
  int primary_status;
  int replica_status;
};

// What each pod must answer with a primary and one streaming, caught-up replica.
const Endpoint kEndpoints[] = {
    {"/metrics", 200, 200},   {"/status", 200, 200},  {"/readyz", 200, 200},
    {"/healthz", 200, 200},   {"/primary", 200, 503}, {"/replica?lag=1MB", 503, 200},
    {"/read-only", 200, 200},
};
constexpr int kEndpointCount = static_cast<int>(std::size(kEndpoints));

struct Server {
  std::string name;
  tcp::endpoint endpoint;
  bool primary;
};

struct Tally {
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  std::uint64_t connections = 0;
  std::uint64_t by_endpoint[kEndpointCount] = {};
  std::map<std::string, std::uint64_t> failures;  // by kind
  std::vector<std::string> examples;              // the first few, in full

  void fail(const std::string& kind, const std::string& detail) {
    ++failed;
    ++failures[kind];
    if (examples.size() < 10) examples.push_back(kind + ": " + detail);
  }
};

enum class ConnMode { kNewPerRequest, kKeepForever, kKeepSome };

class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(asio::io_context& ioc, const Server& server, ConnMode mode, int first_endpoint,
         std::chrono::steady_clock::time_point until, Tally& tally)
      : ioc_(ioc),
        server_(server),
        mode_(mode),
        next_endpoint_(first_endpoint),
        until_(until),
        tally_(tally) {}

  void start() { next(); }

 private:
  void next() {
    if (std::chrono::steady_clock::now() >= until_) return close();
    if (!stream_) return connect();
    request();
  }

  void connect() {
    stream_.emplace(ioc_);
    requests_on_connection_ = 0;
    stream_->expires_after(kRequestTimeout);
    stream_->async_connect(server_.endpoint, [self = shared_from_this()](beast::error_code ec) {
      if (ec) {
        self->tally_.fail("connect", self->server_.name + ": " + ec.message());
        self->stream_.reset();
        return self->next();
      }
      ++self->tally_.connections;
      self->request();
    });
  }

  bool last_on_connection() const {
    return mode_ == ConnMode::kNewPerRequest ||
           (mode_ == ConnMode::kKeepSome &&
            requests_on_connection_ + 1 >= kRequestsPerKeptConnection);
  }

  void request() {
    endpoint_ = next_endpoint_;
    next_endpoint_ = (next_endpoint_ + 1) % kEndpointCount;
    req_ = {};
    req_.version(11);
    req_.method(http::verb::get);
    req_.target(kEndpoints[endpoint_].target);
    req_.set(http::field::host, server_.endpoint.address().to_string() + ":" +
                                    std::to_string(server_.endpoint.port()));
    req_.set(http::field::user_agent, "replagent-soak");
    req_.keep_alive(!last_on_connection());
    stream_->expires_after(kRequestTimeout);
    http::async_write(*stream_, req_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return self->failed("write", ec);
                        self->parser_.emplace();
                        self->parser_->body_limit(1024 * 1024);
                        self->buffer_.clear();
                        http::async_read(*self->stream_, self->buffer_, *self->parser_,
                                         [self](beast::error_code ec2, std::size_t) {
                                           if (ec2) return self->failed("read", ec2);
                                           self->received();
                                         });
                      });
  }

  void failed(const std::string& stage, beast::error_code ec) {
    tally_.fail(stage + " " + ec.message(),
                server_.name + " GET " + kEndpoints[endpoint_].target + " (request " +
                    std::to_string(requests_on_connection_ + 1) + " on its connection)");
    stream_.reset();
    next();
  }

  void received() {
    const auto& res = parser_->get();
    const Endpoint& ep = kEndpoints[endpoint_];
    const int want = server_.primary ? ep.primary_status : ep.replica_status;
    const std::string what = server_.name + " GET " + ep.target;
    std::string problem;
    const auto length = res.find(http::field::content_length);
    if (res.version() != 11) {
      problem = "HTTP version " + std::to_string(res.version());
    } else if (res.result_int() != static_cast<unsigned>(want)) {
      problem = "status " + std::to_string(res.result_int()) + " (want " + std::to_string(want) +
                "): " + res.body().substr(0, 200);
    } else if (length == res.end() || length->value() != std::to_string(res.body().size())) {
      problem = "Content-Length does not match the body of " + std::to_string(res.body().size()) +
                " bytes";
    } else if (res.body().empty()) {
      problem = "empty body";
    } else if (ep.target == "/metrics") {
      problem = check_exposition(res.body());
    } else if (ep.target == "/status") {
      if (!is_json(res.body())) {
        problem = "not JSON: " + res.body().substr(0, 300);
      } else if (res.body().find("\"stale\":false") == std::string::npos) {
        problem = "stale: " + res.body().substr(0, 300);
      }
    }
    if (problem.empty()) {
      ++tally_.ok;
      ++tally_.by_endpoint[endpoint_];
    } else {
      tally_.fail("bad response", what + ": " + problem);
    }
    ++requests_on_connection_;
    if (!res.keep_alive()) {
      // The server closes after a Connection: close request; it must not close on its own.
      if (!last_on_connection() && problem.empty()) {
        tally_.fail("unexpected close", what);
      }
      close();
    }
    next();
  }

  void close() {
    if (!stream_) return;
    beast::error_code ignored;
    stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_->close();
    stream_.reset();
  }

  asio::io_context& ioc_;
  const Server& server_;
  ConnMode mode_;
  int next_endpoint_;
  int endpoint_ = 0;
  std::chrono::steady_clock::time_point until_;
  Tally& tally_;
  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  http::request<http::empty_body> req_;
  std::optional<http::response_parser<http::string_body>> parser_;
  int requests_on_connection_ = 0;
};

std::string join(const std::vector<long>& v) {
  std::string s;
  for (long x : v) s += (s.empty() ? "" : " ") + std::to_string(x);
  return s;
}

class SidecarSoak : public SidecarTest {};

TEST_F(SidecarSoak, TwoHundredClientsForTenSecondsAllWellFormedAndRssFlat) {
  ASSERT_NO_FATAL_FAILURE(bring_up_with_sidecars(1));
  ASSERT_NO_FATAL_FAILURE(expect_eventually_200(sidecar(1), "/replica?lag=1MB"));

  std::vector<Server> servers;
  for (int i = 0; i <= 1; ++i) {
    servers.push_back(Server{
        pod(i).name(), tcp::endpoint(asio::ip::make_address_v4(sidecar(i).ip()), sidecar(i).port()),
        i == 0});
  }
  const pid_t pids[2] = {sidecar(0).pid(), sidecar(1).pid()};
  std::vector<long> rss[2];
  const long fds_before[2] = {open_fds(sidecar(0)), open_fds(sidecar(1))};
  for (int p = 0; p < 2; ++p) {
    // The descriptor check below means nothing without a count (the listener, the poller's
    // session, the log: several).
    ASSERT_GT(fds_before[p], 2) << servers[p].name << ": no replagent_process_open_fds in "
                                << sidecar(p).metrics();
  }

  asio::io_context ioc(1);
  Tally tally;
  const auto start = std::chrono::steady_clock::now();
  const auto until = start + kDuration;
  for (int i = 0; i < kClients; ++i) {
    const auto mode = static_cast<ConnMode>(i % 3);
    std::make_shared<Client>(ioc, servers[i % 2], mode, (i / 2) % kEndpointCount, until, tally)
        ->start();
  }
  // One RSS sample per second, from the start to the end of the load.
  asio::steady_timer sampler(ioc);
  int sample = 0;
  std::function<void()> take_sample = [&] {
    for (int p = 0; p < 2; ++p) rss[p].push_back(rss_kib(pids[p]));
    if (++sample > std::chrono::seconds(kDuration).count()) return;
    sampler.expires_at(start + std::chrono::seconds(sample));
    sampler.async_wait([&](beast::error_code ec) {
      if (!ec) take_sample();
    });
  };
  take_sample();
  ioc.run();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const std::uint64_t total = tally.ok + tally.failed;
  std::ostringstream report;
  report << "soak: " << kClients << " clients, " << total << " requests (" << tally.ok << " ok, "
         << tally.failed << " failed) over " << tally.connections << " connections in " << seconds
         << " s = " << static_cast<long>(std::lround(total / seconds)) << " req/s\n";
  for (int e = 0; e < kEndpointCount; ++e) {
    report << "  " << kEndpoints[e].target << ": " << tally.by_endpoint[e] << "\n";
  }
  for (int p = 0; p < 2; ++p) {
    report << "  " << servers[p].name << " sidecar VmRSS KiB per second: " << join(rss[p])
           << "; open fds before " << fds_before[p] << ", after " << open_fds(sidecar(p)) << "\n";
  }
  std::cout << report.str() << std::flush;
  RecordProperty("requests", static_cast<int>(total));
  RecordProperty("requests_per_second", static_cast<int>(std::lround(total / seconds)));
  RecordProperty("connections", static_cast<int>(tally.connections));
  RecordProperty("rss_kib_primary", join(rss[0]));
  RecordProperty("rss_kib_replica", join(rss[1]));

  std::string failures;
  for (const auto& [kind, n] : tally.failures)
    failures += "  " + kind + ": " + std::to_string(n) + "\n";
  for (const auto& ex : tally.examples) failures += "  e.g. " + ex + "\n";
  EXPECT_EQ(tally.failed, 0u) << failures;
  // Every client got through many requests: the server served them all, not just some.
  EXPECT_GE(tally.ok, static_cast<std::uint64_t>(kClients) * 5) << report.str();
  for (int e = 0; e < kEndpointCount; ++e) {
    EXPECT_GT(tally.by_endpoint[e], 0u) << kEndpoints[e].target;
  }

  // Flat memory: after the warm-up, no sample exceeds the first post-warm-up sample by more
  // than kMaxRssGrowthKiB. Not under AddressSanitizer: its quarantine holds freed memory back
  // (the sidecar grows ~280 MB, then levels off), so RSS says nothing there; the sanitizer run
  // checks leaks and every response instead.
#if defined(__SANITIZE_ADDRESS__)
  const bool check_rss = false;
#else
  const bool check_rss = true;
#endif
  const auto warm = static_cast<std::size_t>(std::chrono::seconds(kWarmUp).count());
  for (int p = 0; check_rss && p < 2; ++p) {
    ASSERT_GT(rss[p].size(), warm + 3) << servers[p].name;
    for (long v : rss[p]) ASSERT_GT(v, 0) << servers[p].name << " VmRSS unreadable";
    const long base = rss[p][warm];
    const long peak = *std::max_element(rss[p].begin() + static_cast<long>(warm), rss[p].end());
    EXPECT_LE(peak - base, kMaxRssGrowthKiB)
        << servers[p].name << " sidecar RSS grew from " << base << " KiB to " << peak
        << " KiB under load: " << join(rss[p]);
  }

  // Afterwards: both still serve, the connections are gone (no descriptor leak), and a sample
  // scrape of each passes promtool.
  for (int p = 0; p < 2; ++p) {
    Sidecar& s = sidecar(p);
    EXPECT_TRUE(s.running()) << s.log_tail();
    EXPECT_EQ(s.get("/healthz").status, 200);
    // Closed connections are released within a moment; allow the probe's own connection.
    long fds_after = -1;
    EXPECT_TRUE(wait_until(
        [&] {
          fds_after = open_fds(s);
          return fds_after > 0 && fds_after <= fds_before[p] + 2;
        },
        10s))
        << servers[p].name << " sidecar holds " << fds_after << " descriptors, " << fds_before[p]
        << " before the load";
    RunResult r = promtool_check_metrics(s.metrics(), scratch() / "promtool", servers[p].name);
    EXPECT_EQ(r.exit_code(), 0) << r.out << r.err;
  }
}

}  // namespace
}  // namespace replagent::test
