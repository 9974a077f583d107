#pragma once

// Who this pod is and who the primary is (from the config), and every connection the agent
// opens, built in one place: each builder is named for whom it connects as and to, so a
// changed field (user, sslmode, timeouts, application_name) changes for every caller at once.

#include <chrono>
#include <memory>
#include <string>

#include "agent/config.hpp"
#include "agent/identity.hpp"
#include "agent/pg.hpp"

namespace replagent::agent {

// Who we are and who the primary is, worked out once from the config.
struct Topology {
  PodIdentity self;
  PodIdentity primary;
  std::string primary_host;  // <set>-<primary>.<service>.<ns>.svc.<domain>
  std::string service_host;  // <service>.<ns>.svc.<domain>: one A record per pod
  std::string slot;          // todo_db_1
  bool is_primary() const { return self.ordinal == primary.ordinal; }
};
// Throws a usage error when pod.name has no ordinal (<statefulset>-<ordinal>).
Topology topology_of(const Config& config);

// ---- Another pod of the set, over TCP

// A TCP connection to a pod of the set: its DNS name (for messages and TLS), the numeric
// address c-ares resolved (the static binary never resolves names itself), the set's port,
// connect_timeout 5 s, and the set's CA (sslmode=verify-full) when TLS is on. The builders
// below add who connects.
ConnParams pod_connection(const Config& config, const std::string& host,
                          const std::string& address);

// A physical replication connection to the pod at `address` as the replication role:
// init's clone, slot and primary checks (application_name: the pod's name) and the
// sidecar's TLS upgrade check (its own name).
ConnParams replication_to(const Config& config, const std::string& host, const std::string& address,
                          const std::string& application_name);

// PQping of the pod at `address`, naming the replication role (no password: a ping does not
// authenticate): `replagent promote` asking whether the primary still answers.
ConnParams replication_ping_to(const Config& config, const std::string& host,
                               const std::string& address);

// The backup role's connection to `address` (TCP, numeric), database `dbname`. Never the
// superuser: a dump reads what a database owner wrote, and the backup role (pg_read_all_data,
// roles/pg_roles.hpp) cannot run programs or write, whatever the dumped database contains.
ConnParams backup_to(const Config& config, const std::string& host, const std::string& address,
                     const std::string& dbname);

// ---- A server of this pod, through its unix socket directory

// The server behind a unix socket directory as the superuser, with peer authentication (the
// OS user postgres; no password), no client-side deadline: init's temporary server.
ConnParams socket_superuser(const Config& config, const std::string& socket_dir,
                            const std::string& application_name);

// The local server as `kubectl exec ... psql` reaches it, for `replagent promote`:
// socket_superuser, connect_timeout 5 s, statements bounded by 90 s (pg_promote waits up to
// 60 s).
ConnParams promote_superuser(const Config& config, const std::string& socket_dir);

// The pod's own running server as the superuser for the sidecar's reviews (password_sync,
// tls_reload, tls_upgrade): socket_superuser with queries bounded by 10 s.
ConnParams sidecar_superuser(const Config& config, const std::string& socket_dir,
                             const std::string& application_name);

// A session as sidecar_superuser; nullptr with *why ("the local server's socket directory is
// unknown (is it running?)", "cannot connect to ...") when there is none.
std::unique_ptr<PgSession> connect_local_superuser(PgClient& pg, const Config& config,
                                                   const std::string& socket_dir,
                                                   const std::string& application_name,
                                                   std::string* why);

// The backup Job's restore check: its temporary server behind `socket_dir` as `user` (peer
// authentication, no password) in `dbname`.
ConnParams restore_check_to(const Config& config, const std::string& socket_dir,
                            const std::string& user, const std::string& dbname);

// ---- The local server at postgres.host (the sidecar and the probe)

// The local server as the sidecar and the probe reach it: postgres.host/port as the monitoring
// role (postgres.monitor_user), connect_timeout 2 s, and a statement_timeout of `query_budget`.
// A numeric host goes to hostaddr, a path is a socket directory, "localhost" is 127.0.0.1.
ConnParams local_monitor(const Config& config, std::chrono::milliseconds query_budget);

// The same server as `local` (local_monitor's, with the timeouts its caller set) as the
// replication role on a replication connection: the sidecar's slot janitor, whose
// DROP_REPLICATION_SLOT the monitoring role may not run.
ConnParams local_replication(const Config& config, const ConnParams& local);

}  // namespace replagent::agent
