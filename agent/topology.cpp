#include "agent/topology.hpp"

#include <fmt/format.h>

#include "agent/dns.hpp"
#include "agent/errors.hpp"

namespace replagent::agent {

Topology topology_of(const Config& c) {
  auto self = parse_pod_name(c.pod.name);
  if (!self) {
    throw usage_error(fmt::format(
        "pod name '{}' has no ordinal: expected <statefulset>-<ordinal> such as todo-db-1 (set "
        "POD_NAME from metadata.name, or pod.name)",
        c.pod.name));
  }
  Topology t;
  t.self = *self;
  t.primary = PodIdentity{self->set, c.pod.primary_ordinal};
  const std::string service = c.pod.service.empty() ? self->set : c.pod.service;
  t.primary_host = pod_dns_name(t.primary, service, c.pod.namespace_, c.pod.cluster_domain);
  t.service_host = service_dns_name(service, c.pod.namespace_, c.pod.cluster_domain);
  t.slot = slot_name_for(c.pod.name);
  return t;
}

ConnParams pod_connection(const Config& c, const std::string& host, const std::string& address) {
  ConnParams p;
  p.host = host;
  p.hostaddr = address;
  p.port = c.postgres.port;
  p.connect_timeout = std::chrono::seconds(5);
  p.sslrootcert = c.postgres.tls_ca_file;  // empty unless TLS is on
  return p;
}

ConnParams replication_to(const Config& c, const std::string& host, const std::string& address,
                          const std::string& application_name) {
  ConnParams p = pod_connection(c, host, address);
  p.user = c.postgres.replication_user;
  p.password = c.postgres.replication_password;
  p.application_name = application_name;
  p.replication = true;
  return p;
}

ConnParams replication_ping_to(const Config& c, const std::string& host,
                               const std::string& address) {
  ConnParams p = pod_connection(c, host, address);
  p.user = c.postgres.replication_user;
  return p;
}

ConnParams backup_to(const Config& c, const std::string& host, const std::string& address,
                     const std::string& dbname) {
  ConnParams p = pod_connection(c, host, address);
  p.user = c.postgres.backup_user;
  p.password = c.postgres.backup_password;
  p.dbname = dbname;
  p.application_name = "replagent-backup";
  return p;
}

ConnParams socket_superuser(const Config& c, const std::string& socket_dir,
                            const std::string& application_name) {
  ConnParams p;
  p.host = socket_dir;
  p.port = c.postgres.port;
  p.user = c.postgres.superuser;
  p.application_name = application_name;
  return p;
}

ConnParams promote_superuser(const Config& c, const std::string& socket_dir) {
  ConnParams p = socket_superuser(c, socket_dir, "replagent promote");
  p.connect_timeout = std::chrono::seconds(5);
  p.io_timeout = std::chrono::seconds(90);
  return p;
}

ConnParams sidecar_superuser(const Config& c, const std::string& socket_dir,
                             const std::string& application_name) {
  ConnParams p = socket_superuser(c, socket_dir, application_name);
  p.io_timeout = std::chrono::seconds(10);
  return p;
}

std::unique_ptr<PgSession> connect_local_superuser(PgClient& pg, const Config& c,
                                                   const std::string& socket_dir,
                                                   const std::string& application_name,
                                                   std::string* why) {
  if (socket_dir.empty()) {
    *why = "the local server's socket directory is unknown (is it running?)";
    return nullptr;
  }
  PgError err;
  const ConnParams params = sidecar_superuser(c, socket_dir, application_name);
  auto session = pg.connect(params, &err);
  if (!session) *why = fmt::format("cannot connect to {}: {}", params.describe(), err.message);
  return session;
}

ConnParams restore_check_to(const Config& c, const std::string& socket_dir, const std::string& user,
                            const std::string& dbname) {
  ConnParams p;
  p.host = socket_dir;
  p.port = c.postgres.port;
  p.user = user;
  p.dbname = dbname;
  p.application_name = "replagent-restore-check";
  return p;
}

ConnParams local_monitor(const Config& c, std::chrono::milliseconds query_budget) {
  ConnParams l;
  // A static binary cannot resolve names through NSS: a numeric host goes to hostaddr, a
  // path is a unix socket directory, "localhost" is loopback; any other name is left to
  // libpq (works only in the dynamically linked build).
  const std::string& host = c.postgres.host;
  if (host == "localhost") {
    l.host = "localhost";
    l.hostaddr = "127.0.0.1";
  } else if (is_ip_literal(host)) {
    l.hostaddr = host;  // libpq takes IPv6 literals bare in hostaddr
  } else {
    l.host = host;
  }
  l.port = c.postgres.port;
  // The monitoring role (pg_monitor, roles/pg_roles.hpp), never the superuser: the sidecar is
  // reachable from the network and needs to read statistics only.
  l.user = c.postgres.monitor_user;
  l.password = c.postgres.monitor_password;
  l.application_name = "replagent-sidecar";
  l.connect_timeout = std::chrono::seconds(2);
  l.options = fmt::format("-c statement_timeout={}", query_budget.count());
  return l;
}

ConnParams local_replication(const Config& c, const ConnParams& local) {
  // DROP_REPLICATION_SLOT over a replication connection to the local server: the replication
  // role may drop slots, the monitoring role may not.
  ConnParams p = local;
  p.user = c.postgres.replication_user;
  p.password = c.postgres.replication_password;
  p.replication = true;
  p.application_name = "replagent-sidecar-slots";
  return p;
}

}  // namespace replagent::agent
