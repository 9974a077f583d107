#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/lsn.hpp"  // parse_lsn, format_lsn: callers of this header use them
#include "agent/secret.hpp"

namespace replagent::agent {

// How to reach a server. Always numeric (`hostaddr`) or a unix socket directory, and always an
// explicit user: a static binary in a scratch image cannot look up names or the OS user.
struct ConnParams {
  std::string host;      // a name for messages and TLS (may be empty), or a socket directory
  std::string hostaddr;  // numeric IPv4; empty when host is a socket directory
  std::uint16_t port = 5432;
  std::string user;  // required: ping/connect throw AgentError(kUsage) when empty
  Secret password;
  std::string dbname = "postgres";
  std::string application_name = "replagent";
  std::chrono::seconds connect_timeout{2};
  // Client-side bound on connecting and on each statement, enforced with poll() on the
  // socket; 0: none (connect_timeout only, statements wait as long as the server takes).
  // TCP keepalives and connect_timeout do not catch a server that is alive to the kernel but
  // does not run (SIGSTOP, a hung host process): the kernel still completes handshakes and
  // ACKs, and a query in progress would wait forever. On expiry the statement is cancelled
  // (PQcancel, off the caller's thread) and the connection dropped: the session then fails
  // every further statement and must be replaced.
  std::chrono::milliseconds io_timeout{0};
  bool replication = false;  // physical replication connection (replication=true)
  std::string options;       // e.g. "-c wal_sender_timeout=0"
  // The set's CA (postgres.tls_ca_file) for a connection to another pod when TLS is on:
  // sslmode=verify-full against it, checked against `host` (the pod's DNS name), so the
  // agent's own logins and slot creation never reach an impostor; empty: sslmode=prefer.
  std::string sslrootcert;

  // "replicator@todo-db-0.todo-db.default.svc.cluster.local:5432" for messages.
  std::string describe() const;
};

enum class PingStatus { kOk, kRejected, kNoResponse, kNoAttempt };
const char* to_string(PingStatus s);

// A failed operation: what the server (or libpq) said.
struct PgError {
  std::string sqlstate;      // "28P01" for a bad password, empty when not from the server
  std::string message;       // libpq's message, first line, no trailing newline
  bool timed_out = false;    // ConnParams::io_timeout ran out: the server did not answer
  bool auth_failed() const;  // 28P01 / 28000
};

// Result of a query: rows of nullable text values.
struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;
};

// One open connection. Single-threaded; the destructor closes it.
class PgSession {
 public:
  virtual ~PgSession() = default;
  // Runs one statement (no parameters); nullopt error on success.
  virtual std::optional<PgError> exec(const std::string& sql, QueryResult* out = nullptr) = 0;
  // Runs `sql` with text parameters $1..$n.
  virtual std::optional<PgError> exec_params(const std::string& sql,
                                             const std::vector<std::string>& params,
                                             QueryResult* out = nullptr) = 0;
  // The SCRAM verifier for a password, computed client side (PQencryptPasswordConn), so
  // CREATE/ALTER ROLE never sends the password itself.
  virtual std::string encrypt_password(const std::string& user, const Secret& password) = 0;
};

// libpq as an effect, so the init flows can be unit-tested with a fake server. SQL only: the
// replication-protocol commands are ReplicationClient's (agent/pg_replication.hpp).
class PgClient {
 public:
  virtual ~PgClient() = default;
  virtual PingStatus ping(const ConnParams& params) = 0;
  // Opens a session; on failure returns nullptr and fills *error.
  virtual std::unique_ptr<PgSession> connect(const ConnParams& params, PgError* error) = 0;
};

std::unique_ptr<PgClient> make_libpq_client();

}  // namespace replagent::agent
