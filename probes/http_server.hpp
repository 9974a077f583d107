#pragma once

// The sidecar's HTTP listener (Boost.Beast): one thread, async accept, HTTP/1.1 with
// keep-alive, small bounded requests. What to answer is decided elsewhere (routes.hpp); this
// file only moves bytes.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "probes/routes.hpp"

namespace replagent::probes {

struct ListenAddress {
  std::string address;  // dotted IPv4; "0.0.0.0" for all interfaces
  std::uint16_t port = 0;
};

// "0.0.0.0:9187", "127.0.0.1:9187", ":9187" (all interfaces), "9187". nullopt otherwise.
std::optional<ListenAddress> parse_listen(std::string_view text);

// Limits: a kubelet or Prometheus request is a few hundred bytes; anything bigger is not one.
inline constexpr std::size_t kMaxHeaderBytes = 8 * 1024;
inline constexpr std::size_t kMaxBodyBytes = 1024;

class HttpServer {
 public:
  using Handler = std::function<Response(const Request&)>;

  // Binds now, so a port in use is an error at start-up, not later. Throws AgentError.
  HttpServer(const ListenAddress& listen, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::uint16_t port() const;  // the bound port (useful with port 0 in tests)

  // Serves until SIGTERM/SIGINT (agent::stop_fd() becomes readable) or stop(): stops
  // accepting, gives open connections a moment to finish their response, returns.
  void run();
  void stop();  // thread-safe

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace replagent::probes
