#include "roles/pod_connection.hpp"

#include <fmt/format.h>

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

std::unique_ptr<agent::PgSession> connect_local_superuser(agent::PgClient& pg,
                                                          const agent::Config& c,
                                                          const std::string& socket_dir,
                                                          const std::string& application_name,
                                                          std::string* why) {
  if (socket_dir.empty()) {
    *why = "the local server's socket directory is unknown (is it running?)";
    return nullptr;
  }
  agent::PgError err;
  auto params = socket_superuser(c, socket_dir, application_name);
  params.io_timeout = std::chrono::seconds(10);
  auto session = pg.connect(params, &err);
  if (!session) *why = fmt::format("cannot connect to {}: {}", params.describe(), err.message);
  return session;
}

}  // namespace replagent::roles
