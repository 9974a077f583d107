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

// Observes, decides, promotes (pg_promote, waiting up to 60 s). Exit codes: 0 promoted or
// already a primary, 3 the primary's state could not be told (DNS failed), 5 refused (the
// primary answers), 1 the local server could not be reached or did not promote.
int promote_command(const agent::Config& config, const std::map<std::string, std::string>& options);

}  // namespace replagent::roles
