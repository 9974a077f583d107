#pragma once

// `replagent probe ready|live|primary|replica`: a kubelet exec probe. Asks the local
// sidecar first (its answer comes from a fresh snapshot in well under a millisecond); when
// the sidecar does not answer or its snapshot is stale, checks the server directly with
// libpq. Always bounded by --timeout (default 1s); exit 0 pass, 1 fail, one line why.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "agent/config.hpp"
#include "agent/pg.hpp"

namespace replagent::probes {

enum class ProbeKind { kReady, kLive, kPrimary, kReplica };
const char* to_string(ProbeKind kind);

struct ProbeOptions {
  ProbeKind kind = ProbeKind::kReady;
  std::uint64_t max_lag = 0;  // --max-lag, else sidecar.max_lag
  bool max_lag_given = false;
  std::chrono::milliseconds timeout{1000};
};

// Throws AgentError(kUsage) for an unknown kind or a bad --max-lag / --timeout.
ProbeOptions parse_probe_options(const std::string& kind,
                                 const std::map<std::string, std::string>& options,
                                 const agent::Config& config);

// The sidecar endpoint for a kind: /readyz, /healthz, /primary, /replica?lag=N.
std::string sidecar_path(const ProbeOptions& options);

// What the sidecar said.
struct SidecarAnswer {
  bool answered = false;
  int status = 0;
  bool stale = false;  // the answer came from a stale snapshot (kStaleHeader)
  std::string body;    // the reason line
  std::string error;   // why there was no answer
};

// What the server said when asked directly.
struct DirectObservation {
  agent::PingStatus ping = agent::PingStatus::kNoResponse;
  bool connected = false;
  std::string error;  // connect or query error, or "no answer within ..."
  bool in_recovery = false;
  std::string wal_receiver_status;  // empty: no WAL receiver
  // Replay lag against what the WAL receiver last heard from the primary: the probe has no
  // view of the primary itself (that is the sidecar's job).
  std::optional<std::uint64_t> lag_bytes;
};

struct ProbeResult {
  bool ok = false;
  std::string reason;
};

// Whether the sidecar's answer settles the question. `live` never goes to the server:
// liveness reflects the agent, never PostgreSQL starting up or replaying.
bool needs_direct_check(const ProbeOptions& options, const SidecarAnswer& sidecar);

ProbeResult decide_probe(const ProbeOptions& options, const SidecarAnswer& sidecar,
                         const std::optional<DirectObservation>& direct);

// The one line printed: "ready ok: primary accepts connections (sidecar)".
std::string probe_line(const ProbeOptions& options, const ProbeResult& result);

// Asks the sidecar, then the server directly when the sidecar's answer does not settle it,
// within options.timeout.
ProbeResult run_probe(const agent::Config& config, const ProbeOptions& options);

}  // namespace replagent::probes
