// The one owner of Boost.Beast on the server side.
#include "probes/http_server.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <utility>  // Boost 1.74 asio needs std::exchange under -std=c++20

#include "agent/errors.hpp"
#include "agent/signals.hpp"

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
    if (!host.empty()) {
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

// An idle keep-alive connection is closed after this; a request must arrive within it.
constexpr std::chrono::seconds kIdleTimeout{30};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpServer::Handler& handler)
      : stream_(std::move(socket)), handler_(handler) {}

  void start() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(kMaxBodyBytes);
    stream_.expires_after(kIdleTimeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
      return close();
    }
    if (ec) {
      // Too large or not HTTP: answer 400 once, then close.
      spdlog::debug("sidecar http: bad request: {}", ec.message());
      Response r;
      r.status = ec == http::error::header_limit || ec == http::error::body_limit ? 431 : 400;
      r.body = "bad request: " + ec.message() + "\n";
      return write(r, false, false);
    }
    const auto& req = parser_->get();
    const Request request{std::string(req.method_string()), std::string(req.target())};
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
    for (const auto& [name, value] : r.headers) res->set(name, value);
    res->keep_alive(keep_alive);
    res->body() = r.body;
    res->prepare_payload();  // Content-Length of the full body, also for HEAD
    if (head) res->body().clear();
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
};

}  // namespace

struct HttpServer::Impl {
  Impl(const ListenAddress& listen, Handler h)
      : handler(std::move(h)), acceptor(ioc), stop_watch(ioc), grace(ioc) {
    const tcp::endpoint ep(asio::ip::make_address_v4(listen.address), listen.port);
    beast::error_code ec;
    acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      throw agent::AgentError(
          agent::ExitCode::kFailed,
          fmt::format("cannot listen on {}:{}: {} (set sidecar.listen to a free address:port)",
                      listen.address, listen.port, ec.message()));
    }
    // A duplicate, so closing the watcher never closes the process-wide stop descriptor.
    const int fd = ::dup(agent::stop_fd());
    if (fd >= 0) stop_watch.assign(fd);
  }

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) std::make_shared<Session>(std::move(socket), handler)->start();
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
    stop_watch.close(ignored);
    // Responses being written get a moment; idle keep-alive connections do not hold us up.
    grace.expires_after(std::chrono::milliseconds(500));
    grace.async_wait([this](beast::error_code) { ioc.stop(); });
  }

  Handler handler;
  asio::io_context ioc{1};
  tcp::acceptor acceptor;
  asio::posix::stream_descriptor stop_watch;
  asio::steady_timer grace;
  bool stopping = false;
};

HttpServer::HttpServer(const ListenAddress& listen, Handler handler)
    : impl_(std::make_unique<Impl>(listen, std::move(handler))) {}

HttpServer::~HttpServer() = default;

std::uint16_t HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }

void HttpServer::run() {
  impl_->accept();
  impl_->watch_stop();
  if (agent::stop_requested()) impl_->shutdown();
  impl_->ioc.run();
}

void HttpServer::stop() {
  asio::post(impl_->ioc, [impl = impl_.get()] { impl->shutdown(); });
}

}  // namespace replagent::probes
