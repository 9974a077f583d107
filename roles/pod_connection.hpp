#pragma once

#include <memory>
#include <string>

#include "agent/config.hpp"
#include "agent/pg.hpp"

namespace replagent::roles {

// A TCP connection to a pod of the set: its DNS name (for messages and TLS), the numeric
// address c-ares resolved (the static binary never resolves names itself), the set's port.
// Callers add who connects (replication role for init, superuser for backups).
agent::ConnParams pod_connection(const agent::Config& config, const std::string& host,
                                 const std::string& address);

// The server behind a unix socket directory as the superuser, with peer authentication (the
// OS user postgres; no password): init's temporary server, and `replagent promote`.
agent::ConnParams socket_superuser(const agent::Config& config, const std::string& socket_dir,
                                   const std::string& application_name);

// A session with the pod's own running server as the superuser (socket_superuser, queries
// bounded by 10 s), for the sidecar's reviews (password_sync, tls_reload, tls_upgrade);
// nullptr with *why ("the local server's socket directory is unknown (is it running?)",
// "cannot connect to ...") when there is none.
std::unique_ptr<agent::PgSession> connect_local_superuser(agent::PgClient& pg,
                                                          const agent::Config& config,
                                                          const std::string& socket_dir,
                                                          const std::string& application_name,
                                                          std::string* why);

}  // namespace replagent::roles
