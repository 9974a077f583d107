#pragma once

#include <functional>
#include <optional>

#include "agent/clock.hpp"
#include "agent/config.hpp"
#include "agent/dns.hpp"
#include "agent/pg.hpp"
#include "agent/pg_replication.hpp"
#include "agent/signals.hpp"
#include "probes/routes.hpp"
#include "probes/snapshot.hpp"

namespace replagent::probes {

// What the sidecar is given by the composition root (agent/cmd/sidecar.cpp).
struct SidecarDeps {
  agent::PgClient& pg;
  agent::ReplicationClient& replication;
  agent::Resolver& resolver;
  agent::Clock& clock;
  // SIGTERM: the HTTP server stops serving and the poller stops polling.
  agent::StopToken stop;
  // What the last init did with the volume, if it left a record.
  std::optional<LastInit> last_init;
  // Called on the poller's thread after every poll with its snapshot: the periodic duties
  // of other layers (password sync, TLS reload and upgrade, the role label). May be empty.
  std::function<void(const Snapshot&)> after_poll;
};

// `replagent sidecar`: poll the local server (and the primary, on a replica) every
// sidecar.poll_interval and serve /metrics, health and routing endpoints on sidecar.listen
// until SIGTERM. Returns the exit code; throws AgentError for configuration errors.
int run_sidecar(const agent::Config& config, SidecarDeps deps);

}  // namespace replagent::probes
