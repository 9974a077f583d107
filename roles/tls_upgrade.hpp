#pragma once

// A replica's sidecar finishes turning TLS on for a running set.
//
// The rolling update restarts the replicas first and the primary last, so a replica's init
// finds its primary serving no TLS yet; one that never verified it streams with the interim
// sslmode=prefer and marks its data kTlsPendingFile (roles/init_replica.cpp, "Turning TLS
// on"). Once the primary restarts with TLS, this class, at each poll of a replica with that
// marker (backing off between tries), asks the primary over a replication connection with
// sslmode=verify-full against the set's CA; when it verifies, it sets primary_conninfo to the
// verifying one (ALTER SYSTEM: PostgreSQL writes postgresql.auto.conf, where init writes it)
// and reloads, so the walreceiver reconnects verifying the primary (primary_conninfo is
// reloadable since PostgreSQL 13), all without a restart; then it records kTlsVerifiedFile
// (never unverified again) and removes kTlsPendingFile.
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "agent/backoff.hpp"
#include "agent/clock.hpp"
#include "agent/config.hpp"
#include "agent/dns.hpp"
#include "agent/pg.hpp"
#include "agent/pg_replication.hpp"

namespace replagent::roles {

struct TlsUpgradeEffects {
  // Whether the data directory holds kTlsPendingFile.
  std::function<bool()> pending;
  // nullopt when the primary verifies (a replication connection with sslmode=verify-full
  // answered IDENTIFY_SYSTEM), else why it does not ("server does not support SSL ...").
  std::function<std::optional<std::string>()> verify_primary;
  // Writes kTlsVerifiedFile and removes kTlsPendingFile.
  std::function<void()> record_verified;
};

// The real effects for `config`'s data directory and primary (resolved with `resolver`).
TlsUpgradeEffects real_tls_upgrade_effects(const agent::Config& config, agent::Resolver& resolver,
                                           agent::ReplicationClient& replication);

class TlsUpgrade {
 public:
  TlsUpgrade(agent::Config config, agent::PgClient& pg, agent::Clock& clock,
             TlsUpgradeEffects effects);

  // Called after each of a replica's polls while its server answers. Does nothing when TLS is
  // off, once finished (or found not pending), or while backing off after a try.
  void review(const std::string& socket_dir);

  // True once the conninfo verifies the primary (switched here, or never pending).
  bool finished() const { return finished_; }

 private:
  void wait(const std::string& why);

  agent::Config config_;
  agent::PgClient& pg_;
  agent::Clock& clock_;
  TlsUpgradeEffects effects_;
  bool finished_ = false;
  std::string last_reason_;
  std::chrono::steady_clock::time_point retry_at_{};
  agent::Backoff backoff_{std::chrono::seconds(2), std::chrono::seconds(30)};
};

}  // namespace replagent::roles
