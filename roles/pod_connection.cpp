#include "roles/pod_connection.hpp"

namespace replagent::roles {

agent::ConnParams pod_connection(const agent::Config& c, const std::string& host,
                                 const std::string& address) {
  agent::ConnParams p;
  p.host = host;
  p.hostaddr = address;
  p.port = c.postgres.port;
  p.connect_timeout = std::chrono::seconds(5);
  p.sslrootcert = c.postgres.tls_ca_file;  // empty unless TLS is on
  return p;
}

agent::ConnParams socket_superuser(const agent::Config& c, const std::string& socket_dir,
                                   const std::string& application_name) {
  agent::ConnParams p;
  p.host = socket_dir;
  p.port = c.postgres.port;
  p.user = c.postgres.superuser;
  p.application_name = application_name;
  return p;
}

}  // namespace replagent::roles
