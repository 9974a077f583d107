// roles/: what a pod does with its data directory: the init flows for the primary and the
// replicas (decide from observed state, then act), the pg_basebackup clone, and backups.
#pragma once

#include <string>

#include "agent/clock.hpp"
#include "agent/config.hpp"
#include "agent/dns.hpp"
#include "agent/effects.hpp"
#include "agent/errors.hpp"
#include "agent/pg.hpp"
#include "agent/pg_replication.hpp"
#include "agent/process.hpp"

namespace replagent::roles {

// The effects the init flows use (agent/effects.hpp).
using InitDeps = agent::Effects;

// What a successful init did with the volume, recorded for the sidecar (InitRecord).
enum class InitAction {
  kNone,       // nothing recorded (a failure)
  kInitdb,     // a new primary
  kClone,      // an empty replica volume cloned
  kReclone,    // a replica's data replaced by a new clone (see InitReason)
  kKept,       // valid replica data, no clone
  kRefreshed,  // an existing primary's files and roles brought in step
};
// The label written to the record, the logs and the sidecar's metrics: "" for kNone, else
// "initdb", "clone", "reclone", "kept", "refreshed".
const char* to_string(InitAction action);

// Why a re-clone replaced a replica's data.
enum class InitReason {
  kNone,
  kSlotMissing,     // the primary has no slot for this replica
  kSlotWalRemoved,  // its slot was invalidated: the WAL this replica needs is gone
  kForeignData,     // another cluster's data, a primary's, or no data directory at all
};
// "" for kNone, else "slot_missing", "slot_wal_removed", "foreign_data".
const char* to_string(InitReason reason);

struct InitOutcome {
  agent::ExitCode code = agent::ExitCode::kOk;
  std::string message;  // one line: what happened, or why not and what to do
  InitAction action = InitAction::kNone;
  InitReason reason = InitReason::kNone;
};

// `replagent init`: works out the role from the pod's ordinal and prepares the data directory.
// Never throws for expected outcomes (timeouts, refusals, clone failures); throws AgentError
// for configuration errors.
InitOutcome run_init(const agent::Config& config, InitDeps deps);

// Tells what init did: the log line, PGDATA/replagent.last-init for the sidecar (on success)
// and the container's termination message (init.termination_log).
void report_init_outcome(const agent::Config& config, const InitOutcome& outcome);

}  // namespace replagent::roles
