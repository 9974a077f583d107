#include "agent/kube_api.hpp"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <utility>  // Boost 1.74 asio needs std::exchange under -std=c++20

#include "agent/config.hpp"
#include "agent/dns.hpp"
#include "agent/units.hpp"

namespace replagent::agent {

namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

}  // namespace

std::string KubeAnswer::describe() const {
  if (status == 0) return error;
  return fmt::format("HTTP {}: {}", status, body.size() > 300 ? body.substr(0, 300) + "..." : body);
}

// Async operations on one io_context with one deadline covering connect, handshake, write and
// read (Beast's stream timeouts apply to async calls only), as probes/http_client.cpp does.
KubeAnswer patch_pod_labels(const KubeApi& api, const std::string& ns, const std::string& pod,
                            const std::map<std::string, std::string>& labels) {
  KubeAnswer out;
  // Read at each call: the kubelet rewrites a projected token before it expires.
  Secret token;
  try {
    token = read_secret_file(api.token_file, "sidecar.kubernetes_token_file");
  } catch (const std::exception& e) {
    out.error = e.what();
    return out;
  }

  ssl::context ctx(ssl::context::tls_client);
  ctx.set_verify_mode(ssl::verify_peer);
  boost::system::error_code ec;
  ctx.load_verify_file(api.ca_file, ec);
  if (ec) {
    out.error = fmt::format("cannot load the cluster CA {}: {}", api.ca_file, ec.message());
    return out;
  }
  asio::io_context ioc{1};
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  // The certificate must be the API server's for the host we dial: its IP address (the
  // Service's ClusterIP, as client-go dials it) or its DNS name, checked by OpenSSL.
  X509_VERIFY_PARAM* param = SSL_get0_param(stream.native_handle());
  const bool numeric = is_ip_literal(api.host);
  if (numeric ? X509_VERIFY_PARAM_set1_ip_asc(param, api.host.c_str()) != 1
              : X509_VERIFY_PARAM_set1_host(param, api.host.c_str(), 0) != 1) {
    out.error = "bad Kubernetes API host " + api.host;
    return out;
  }
  if (!numeric) SSL_set_tlsext_host_name(stream.native_handle(), api.host.c_str());

  std::string body = "{\"metadata\":{\"labels\":{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    body += fmt::format("{}\"{}\":\"{}\"", first ? "" : ",", k, v);
    first = false;
  }
  body += "}}}";
  http::request<http::string_body> req{http::verb::patch,
                                       fmt::format("/api/v1/namespaces/{}/pods/{}", ns, pod), 11};
  req.set(http::field::host, host_port(api.host, api.port));
  req.set(http::field::user_agent, "replagent-sidecar");
  req.set(http::field::authorization, "Bearer " + token.reveal());
  req.set(http::field::content_type, "application/merge-patch+json");
  req.set(http::field::accept, "application/json");
  req.keep_alive(false);
  req.body() = body;
  req.prepare_payload();
  http::response_parser<http::string_body> parser;
  parser.body_limit(1024 * 1024);
  beast::flat_buffer buffer;

  boost::system::error_code addr_ec;
  const auto address = asio::ip::make_address(api.address, addr_ec);
  if (addr_ec) {
    out.error = fmt::format("bad Kubernetes API address '{}' for {}", api.address, api.host);
    return out;
  }
  const tcp::endpoint endpoint(address, api.port);
  const auto timeout = api.timeout;
  auto fail = [&out, timeout](beast::error_code e, const char* step) {
    out.error = e == beast::error::timeout
                    ? fmt::format("timed out after {} ({})", format_duration(timeout), step)
                    : fmt::format("{}: {}", step, e.message());
  };
  beast::get_lowest_layer(stream).expires_after(timeout);
  beast::get_lowest_layer(stream).async_connect(endpoint, [&](beast::error_code e1) {
    if (e1) return fail(e1, "connect");
    stream.async_handshake(ssl::stream_base::client, [&](beast::error_code e2) {
      if (e2) return fail(e2, "TLS handshake");
      http::async_write(stream, req, [&](beast::error_code e3, std::size_t) {
        if (e3) return fail(e3, "write");
        http::async_read(stream, buffer, parser, [&](beast::error_code e4, std::size_t) {
          if (e4) return fail(e4, "read");
          out.status = static_cast<int>(parser.get().result_int());
          out.body = parser.get().body();
        });
      });
    });
  });
  ioc.run();
  beast::error_code ignored;
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
  return out;
}

}  // namespace replagent::agent
