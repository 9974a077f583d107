#include "roles/pod_connection.hpp"

namespace replagent::roles {

agent::ConnParams pod_connection(const agent::Config& c, const std::string& host,
                                 const std::string& address) {
  agent::ConnParams p;
  p.host = host;
  p.hostaddr = address;
  p.port = c.postgres.port;
  p.connect_timeout = std::chrono::seconds(5);
  return p;
}

}  // namespace replagent::roles
