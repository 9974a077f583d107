#include "probes/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <utility>  // Boost 1.74 asio needs std::exchange under -std=c++20

#include "agent/dns.hpp"
#include "agent/units.hpp"
#include "probes/routes.hpp"

namespace replagent::probes {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Async operations on one io_context with a single deadline: Beast's tcp_stream timeouts
// apply only to async calls, and one expiry covers connect, write and read together.
HttpAnswer http_get(const std::string& ip, std::uint16_t port, const std::string& target,
                    std::chrono::milliseconds timeout) {
  HttpAnswer out;
  asio::io_context ioc{1};
  beast::tcp_stream stream(ioc);
  beast::flat_buffer buffer;
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, agent::host_port(ip, port));
  req.set(http::field::user_agent, "replagent-probe");
  req.keep_alive(false);
  http::response_parser<http::string_body> parser;
  parser.body_limit(1024 * 1024);

  boost::system::error_code addr_ec;
  const auto address = asio::ip::make_address(ip, addr_ec);  // IPv4 or IPv6, numeric
  if (addr_ec) {
    out.error = "bad sidecar address " + ip;
    return out;
  }
  const tcp::endpoint endpoint(address, port);
  auto fail = [&out, timeout](beast::error_code ec) {
    out.error = ec == beast::error::timeout ? "timed out after " + agent::format_duration(timeout)
                                            : ec.message();
  };
  stream.expires_after(timeout);
  stream.async_connect(endpoint, [&](beast::error_code ec) {
    if (ec) return fail(ec);
    http::async_write(stream, req, [&](beast::error_code ec2, std::size_t) {
      if (ec2) return fail(ec2);
      http::async_read(stream, buffer, parser, [&](beast::error_code ec3, std::size_t) {
        if (ec3) return fail(ec3);
        const auto& res = parser.get();
        out.ok = true;
        out.status = static_cast<int>(res.result_int());
        out.stale = res.find(kStaleHeader) != res.end();
        out.body = res.body();
      });
    });
  });
  ioc.run();
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return out;
}

}  // namespace replagent::probes
