// Which server a backup reads from. A streaming replica by default, so the dump's long
// read-only transaction does not load the primary; the primary when no replica streams.
#pragma once

#include <optional>
#include <string>

#include "agent/config.hpp"
#include "agent/dns.hpp"
#include "agent/pg.hpp"

namespace replagent::roles {

// The names a backup needs, from the config. The set is named after its headless Service,
// as in our chart: pod.service (which load_config derives from a member's pod name), else the
// set part of pod.name. A Job's pod is not a member of the set, so its chart sets
// REPLAGENT_POD_SERVICE. Throws AgentError(kUsage) when neither gives a name.
struct BackupTarget {
  std::string set;           // todo-db: the backup files' prefix
  std::string service_host;  // <service>.<ns>.svc.<domain>: one A record per pod
  std::string primary_host;  // <set>-<primary>.<service>.<ns>.svc.<domain>
};
BackupTarget backup_target_of(const agent::Config& config);

struct BackupSource {
  std::string role;              // "replica", "primary" or "host" (backup.source names one)
  std::string host;              // a name for messages and TLS
  std::string address;           // numeric, what libpq and pg_dump connect to (hostaddr)
  std::string describe() const;  // "replica 127.0.0.11 (todo-db.default.svc.cluster.local)"
};

struct SourceChoice {
  std::optional<BackupSource> source;
  std::string reason;  // why none, or what was skipped on the way (for the log)
};

// backup.source: "replica" asks every address of the headless Service (backup role over TCP:
// in recovery and its WAL receiver streaming) and falls back to the primary; "primary" takes
// the primary's pod name; anything else is a host name or IP address taken as is.
SourceChoice choose_backup_source(const agent::Config& config, const BackupTarget& target,
                                  agent::Resolver& resolver, agent::PgClient& pg);

// The primary by its pod name, reachable as the backup role: backup.source "primary", and
// where "replica" falls back to (no streaming replica, or one whose recovery kept cancelling
// the dump). `earlier` (what was skipped on the way) starts the reason.
SourceChoice primary_source(const agent::Config& config, const BackupTarget& target,
                            agent::Resolver& resolver, agent::PgClient& pg,
                            const std::string& earlier = "");

}  // namespace replagent::roles
