#pragma once

// `replagent promote`: the runbook's one command for "pod 0's volume is gone, a replica holds
// the data" (README "Losing the primary's volume"): promote this pod's server, refusing while
// the configured primary still answers, so two primaries never take writes at once.

#include <map>
#include <optional>
#include <string>

#include "agent/config.hpp"
#include "agent/dns.hpp"
#include "agent/pg.hpp"

namespace replagent::roles {

// What promote observed before deciding.
struct PromoteObservation {
  bool in_recovery = true;
  std::string receive_lsn;  // "0/5000000", empty if none yet
  std::string replay_lsn;
  std::string primary_host;
  agent::DnsStatus primary_dns = agent::DnsStatus::kError;
  std::string primary_dns_detail;
  // Per resolved address of the primary: whether a server answered there.
  std::map<std::string, agent::PingStatus> primary_pings;
};

struct PromoteDecision {
  enum class Action { kPromote, kAlreadyPrimary, kRefuse, kCannotTell } action;
  std::string reason;
};

// Pure: promote only a server in recovery whose configured primary does not answer (its name
// gone from DNS, or no server at any of its addresses). A DNS failure is not an answer.
PromoteDecision decide_promote(const PromoteObservation& o);

// Observes, decides, promotes (pg_promote, waiting up to 60 s) the server whose unix socket is
// in socket_dir, and returns what to tell the operator (promoted and the next step, or
// already a primary). Throws AgentError: kTimedOut (3) when the primary's state cannot be told
// (DNS failed), kUnsafeData (5) refused (the primary answers), kFailed (1) the local server
// could not be reached or did not promote.
std::string run_promote(const agent::Config& config, const std::string& socket_dir,
                        agent::PgClient& pg, agent::Resolver& resolver);

}  // namespace replagent::roles
