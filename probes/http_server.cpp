// The one owner of Boost.Beast on the server side.
#include "probes/http_server.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <list>
#include <utility>  // Boost 1.74 asio needs std::exchange under -std=c++20

#include "agent/errors.hpp"
#include "agent/signals.hpp"
#include "agent/units.hpp"

namespace replagent::probes {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::optional<ListenAddress> parse_listen(std::string_view text) {
  ListenAddress out{"0.0.0.0", 0};
  std::string_view port = text;
  if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    const std::string_view host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      boost::system::error_code ec;
      const auto addr = asio::ip::make_address_v6(std::string(host.substr(1, host.size() - 2)), ec);
      if (ec) return std::nullopt;
      out.address = addr.to_string();
    } else if (!host.empty()) {
      boost::system::error_code ec;
      const auto addr = asio::ip::make_address_v4(std::string(host), ec);
      if (ec) return std::nullopt;
      out.address = addr.to_string();
    }
  }
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value > 65535) {
    return std::nullopt;
  }
  out.port = static_cast<std::uint16_t>(value);
  return out;
}

namespace {

class Session;

// The open connections and, oldest first, those waiting for their next request. Shared by
// the server and every session (io_context thread only, except the count), so a session
// destroyed after the server (pending handlers die with the io_context) touches nothing else.
struct Connections {
  std::atomic<std::size_t> open{0};
  std::list<std::weak_ptr<Session>> waiting;
  std::function<void()> on_close;  // the server's: resume accepting; cleared before it goes
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpServer::Handler& handler, const HttpLimits& limits,
          std::shared_ptr<Connections> connections)
      : stream_(std::move(socket)),
        handler_(handler),
        limits_(limits),
        connections_(std::move(connections)) {}

  ~Session() {
    stop_waiting();
    --connections_->open;
    if (connections_->on_close) connections_->on_close();
  }

  void start() { read(); }

  // Closes the connection to make room for a new one; its pending read then ends.
  void evict() {
    stop_waiting();
    close();
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(kMaxBodyBytes);
    stream_.expires_after(limits_.request_timeout);
    waiting_ = connections_->waiting.insert(connections_->waiting.end(), weak_from_this());
    is_waiting_ = true;
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void stop_waiting() {
    if (!is_waiting_) return;
    connections_->waiting.erase(waiting_);
    is_waiting_ = false;
  }

  void on_read(beast::error_code ec) {
    stop_waiting();
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        !stream_.socket().is_open()) {
      return close();
    }
    if (ec) {
      // Too large or not HTTP: answer once, then close.
      spdlog::debug("sidecar http: bad request: {}", ec.message());
      Response r;
      r.status = ec == http::error::header_limit ? 431 : ec == http::error::body_limit ? 413 : 400;
      r.body = "bad request: " + ec.message() + "\n";
      return write(r, false, false);
    }
    const auto& req = parser_->get();
    const Request request{std::string(req.method_string()), std::string(req.target()),
                          std::string(req[http::field::authorization])};
    Response r;
    try {
      r = handler_(request);
    } catch (const std::exception& e) {
      spdlog::error("sidecar http: {} {}: {}", request.method, request.target, e.what());
      r.status = 500;
      r.body = "internal error\n";
    }
    write(r, req.keep_alive(), req.method() == http::verb::head);
  }

  void write(const Response& r, bool keep_alive, bool head) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(static_cast<unsigned>(r.status));
    res->set(http::field::server, "replagent");
    res->set(http::field::content_type, r.content_type);
    res->set(http::field::cache_control, "no-store");
    // Bodies are plain text or JSON, some quoting request bytes: never let a browser that
    // opens one guess it is HTML.
    res->set("X-Content-Type-Options", "nosniff");
    for (const auto& [name, value] : r.headers) res->set(name, value);
    res->keep_alive(keep_alive);
    res->body() = r.body;
    res->prepare_payload();  // Content-Length of the full body, also for HEAD
    if (head) res->body().clear();
    stream_.expires_after(limits_.write_timeout);
    http::async_write(
        stream_, *res,
        [self = shared_from_this(), res, keep_alive](beast::error_code ec, std::size_t) {
          if (ec || !keep_alive) return self->close();
          self->read();
        });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{kMaxHeaderBytes + kMaxBodyBytes};
  std::optional<http::request_parser<http::string_body>> parser_;
  const HttpServer::Handler& handler_;
  const HttpLimits& limits_;
  std::shared_ptr<Connections> connections_;
  std::list<std::weak_ptr<Session>>::iterator waiting_;
  bool is_waiting_ = false;
};

}  // namespace

struct HttpServer::Impl {
  Impl(const ListenAddress& listen, Handler h, HttpLimits l, agent::StopToken s)
      : handler(std::move(h)),
        limits(l),
        stop(s),
        acceptor(ioc),
        accept_retry(ioc),
        stop_watch(ioc),
        grace(ioc) {
    if (limits.max_connections == 0) limits.max_connections = 1;
    beast::error_code ec;
    // "All interfaces" (0.0.0.0, the default) is one dual-stack socket on [::] with
    // IPV6_V6ONLY off: IPv4 clients arrive as ::ffff:a.b.c.d, so the kubelet's probes and
    // Prometheus reach the sidecar whether the pod has an IPv4 address, an IPv6 one or both,
    // with no guessing from the interfaces (and whatever net.ipv6.bindv6only says). A kernel
    // without IPv6 (ipv6.disable=1) cannot open it: then 0.0.0.0 as before.
    if (listen.address == "0.0.0.0" &&
        bind_to(tcp::endpoint(asio::ip::address_v6::any(), listen.port),
                /*dual_stack=*/true, ec)) {
      bound = "[::]";
    } else {
      const auto addr = asio::ip::make_address(listen.address, ec);
      if (!ec) bind_to(tcp::endpoint(addr, listen.port), /*dual_stack=*/false, ec);
      bound = addr.is_v6() ? "[" + listen.address + "]" : listen.address;
    }
    if (ec) {
      throw agent::AgentError(
          agent::ExitCode::kFailed,
          fmt::format("cannot listen on {}:{}: {} (set sidecar.listen to a free address:port)",
                      bound, listen.port, ec.message()));
    }
    // A duplicate, so closing the watcher never closes the process-wide stop descriptor.
    const int fd = stop.fd() < 0 ? -1 : ::dup(stop.fd());
    if (fd >= 0) stop_watch.assign(fd);
    connections->on_close = [this] {
      if (paused && !stopping && connections->open <= limits.max_connections) {
        paused = false;
        accept();
      }
    };
  }

  // Sessions still queued in the io_context are destroyed with it, after this body: they
  // must not call back into a server that is going away.
  ~Impl() { connections->on_close = nullptr; }

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open() || stopping) return;
      if (ec) {
        // Out of descriptors (EMFILE/ENFILE) or memory: retrying at once would spin on the
        // same error; a closing connection or the kernel clears it, so wait a moment.
        if (!accept_failing) {
          spdlog::warn("sidecar http: cannot accept connections: {} (retrying every {})",
                       ec.message(), agent::format_duration(limits.accept_retry));
        }
        accept_failing = true;
        accept_retry.expires_after(limits.accept_retry);
        accept_retry.async_wait([this](beast::error_code e) {
          if (!e && !stopping) accept();
        });
        return;
      }
      if (accept_failing) spdlog::info("sidecar http: accepting connections again");
      accept_failing = false;
      ++connections->open;
      auto session = std::make_shared<Session>(std::move(socket), handler, limits, connections);
      session->start();
      if (connections->open > limits.max_connections) {
        // Over the limit: close the connection that has waited longest for a request (not
        // the one just accepted), and accept again once a connection has ended.
        paused = true;
        if (!connections->waiting.empty()) {
          auto oldest = connections->waiting.front().lock();
          if (oldest && oldest != session) oldest->evict();
        }
        return;
      }
      accept();
    });
  }

  void watch_stop() {
    if (!stop_watch.is_open()) return;
    stop_watch.async_wait(asio::posix::stream_descriptor::wait_read, [this](beast::error_code ec) {
      if (!ec) shutdown();
    });
  }

  void shutdown() {
    if (stopping) return;
    stopping = true;
    spdlog::info("sidecar http: stopping");
    beast::error_code ignored;
    acceptor.close(ignored);
    accept_retry.cancel();
    stop_watch.close(ignored);
    // Responses being written get a moment; idle keep-alive connections do not hold us up.
    grace.expires_after(std::chrono::milliseconds(500));
    grace.async_wait([this](beast::error_code) { ioc.stop(); });
  }

  Handler handler;
  HttpLimits limits;
  agent::StopToken stop;  // SIGTERM: shut down as stop() does
  std::shared_ptr<Connections> connections = std::make_shared<Connections>();
  // open, SO_REUSEADDR, (IPV6_V6ONLY off,) bind, listen; false with `ec` set, socket closed.
  bool bind_to(const tcp::endpoint& ep, bool dual_stack, beast::error_code& ec) {
    acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && dual_stack) acceptor.set_option(asio::ip::v6_only(false), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec && acceptor.is_open()) {
      beast::error_code ignored;
      acceptor.close(ignored);
    }
    return !ec;
  }

  std::string bound;  // the address actually bound, for messages
  asio::io_context ioc{1};
  tcp::acceptor acceptor;
  asio::steady_timer accept_retry;
  asio::posix::stream_descriptor stop_watch;
  asio::steady_timer grace;
  bool stopping = false;
  bool paused = false;  // at the connection limit: accepting resumes when one ends
  bool accept_failing = false;
};

HttpServer::HttpServer(const ListenAddress& listen, Handler handler, HttpLimits limits,
                       agent::StopToken stop)
    : impl_(std::make_unique<Impl>(listen, std::move(handler), limits, stop)) {}

HttpServer::~HttpServer() = default;

std::uint16_t HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

std::size_t HttpServer::open_connections() const { return impl_->connections->open.load(); }

void HttpServer::run() {
  impl_->accept();
  impl_->watch_stop();
  if (impl_->stop.stop_requested()) impl_->shutdown();
  impl_->ioc.run();
}

void HttpServer::stop() {
  asio::post(impl_->ioc, [impl = impl_.get()] { impl->shutdown(); });
}

}  // namespace replagent::probes
