#pragma once

#include "agent/config.hpp"

namespace replagent::probes {

// `replagent sidecar`: poll the local server (and the primary, on a replica) every
// sidecar.poll_interval and serve /metrics, health and routing endpoints on sidecar.listen
// until SIGTERM. Returns the exit code; throws AgentError for configuration errors.
int sidecar_command(const agent::Config& config);

}  // namespace replagent::probes
