#pragma once

// The sidecar's HTTP listener (Boost.Beast): one thread, async accept, HTTP/1.1 with
// keep-alive, small bounded requests. What to answer is decided elsewhere (routes.hpp); this
// file only moves bytes.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "agent/signals.hpp"
#include "probes/routes.hpp"

namespace replagent::probes {

struct ListenAddress {
  // Dotted IPv4 or IPv6 text (no brackets); "0.0.0.0" for all interfaces, which binds one
  // dual-stack [::] socket where the kernel has IPv6 (IPv4 and IPv6 pods alike).
  std::string address;
  std::uint16_t port = 0;
};

// "0.0.0.0:9187", "127.0.0.1:9187", "[::]:9187", "[fd00::a]:9187", ":9187" (all interfaces),
// "9187". nullopt otherwise.
std::optional<ListenAddress> parse_listen(std::string_view text);

// Limits: a kubelet or Prometheus request is a few hundred bytes; anything bigger is not one.
// Over the header limit: 431 Request Header Fields Too Large; over the body limit (declared by
// Content-Length or met while reading chunks): 413 Content Too Large. Either way the
// connection is closed after the answer. Every response carries X-Content-Type-Options:
// nosniff.
inline constexpr std::size_t kMaxHeaderBytes = 8 * 1024;
inline constexpr std::size_t kMaxBodyBytes = 1024;

// Bounds on what clients can hold. The sidecar's clients are a kubelet (an exec probe through
// `replagent probe`, a new connection each time), Prometheus and HAProxy (keep-alive, a
// handful of connections each); a few hundred connections is already a bug or an attack.
struct HttpLimits {
  // Open connections at most. One more is accepted by closing the connection that has waited
  // longest for its next request (an idle keep-alive connection or a client still sending
  // its request): HTTP lets a server close an idle connection at any time and clients retry,
  // while a kubelet probe must never queue behind idle connections. When all are busy
  // writing a response, accepting pauses until one ends (the kernel's backlog holds the rest).
  std::size_t max_connections = 256;
  // A connection must deliver each complete request within this after it was accepted or
  // after its previous response (keep-alive idle time and slow senders alike).
  std::chrono::milliseconds request_timeout{30000};
  // A response must be taken by the client within this.
  std::chrono::milliseconds write_timeout{10000};
  // After a failed accept (EMFILE: out of descriptors) wait this long before the next one,
  // instead of spinning on an error that only a closing connection can clear.
  std::chrono::milliseconds accept_retry{100};
};

class HttpServer {
 public:
  using Handler = std::function<Response(const Request&)>;

  // Binds now, so a port in use is an error at start-up, not later. Throws AgentError.
  HttpServer(const ListenAddress& listen, Handler handler, HttpLimits limits = {},
             agent::StopToken stop = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::uint16_t port() const;  // the bound port (useful with port 0 in tests)
  // Connections open right now (thread-safe; for tests and diagnostics).
  std::size_t open_connections() const;

  // Serves until its stop token is requested (SIGTERM) or stop(): stops
  // accepting, gives open connections a moment to finish their response, returns.
  void run();
  void stop();  // thread-safe

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace replagent::probes
