#pragma once

// The primary's sidecar keeps the roles' passwords in step with their mounted Secret files
// while the set runs, so a rotated Secret never locks a replica out.
//
// Why the primary cannot wait for its own restart: a rotated Secret rolls the StatefulSet
// from the highest ordinal down, replicas first, the primary last. Each replica's init writes
// the new replication password into its passfile; a primary that still had the old one would
// refuse every replica, none would become Ready, and the roll would stop for good before it
// reached the primary. The kubelet refreshes a mounted Secret's files in place (about a
// minute after the change), the sidecar sees the new contents on its next poll and applies
// them with ALTER ROLE over the local socket, as the superuser by peer authentication: it needs
// no superuser password, and carries none. The superuser's own password is used by nothing in
// the set (every superuser connection of the pod is on the socket), so init applies it at the
// primary's next start, as before.
//
// Nothing is logged with a password: passwords travel as SCRAM verifiers (pg_roles.hpp).
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "agent/clock.hpp"
#include "agent/config.hpp"
#include "agent/pg.hpp"

namespace replagent::roles {

// Reads one password file (agent::read_password_file); replaceable in tests.
using PasswordReader =
    std::function<agent::Secret(const std::string& path, const std::string& key)>;

class PasswordSync {
 public:
  // `config` names the password files (postgres.{replication,monitor,backup,app}_password_file);
  // roles without a file are left alone.
  PasswordSync(agent::Config config, agent::PgClient& pg, agent::Clock& clock,
               PasswordReader read = agent::read_password_file);

  // Called after each of the sidecar's polls. On a primary whose files differ from what was
  // last applied (or that has applied nothing yet since the sidecar started), connects to
  // `socket_dir` as the superuser and brings the roles in step. A failure is logged once per
  // distinct message and retried after a backoff, never every poll. A replica does nothing:
  // its init writes the passfile at each pod start.
  void review(bool is_primary, const std::string& socket_dir);

  // Reconciliations that succeeded since start (the first one included).
  std::uint64_t applied() const { return applied_; }

 private:
  // The passwords in the files now, as a config reconcile_roles understands (the superuser's
  // left empty: never altered here); nullopt when a file cannot be read (logged).
  std::optional<agent::Config> read_files();
  // The four passwords side by side, to see a change (kept in memory only, never logged).
  static std::string fingerprint(const agent::Config& with_passwords);

  agent::Config config_;
  agent::PgClient& pg_;
  agent::Clock& clock_;
  PasswordReader read_;
  std::optional<std::string> applied_fingerprint_;
  std::uint64_t applied_ = 0;
  std::string last_error_;
  std::chrono::steady_clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_{0};
};

}  // namespace replagent::roles
