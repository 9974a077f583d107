// roles/: what a pod does with its data directory: the init flows for the primary and the
// replicas (decide from observed state, then act), the pg_basebackup clone, and backups.
#pragma once

#include <string>

#include "agent/clock.hpp"
#include "agent/config.hpp"
#include "agent/dns.hpp"
#include "agent/errors.hpp"
#include "agent/pg.hpp"
#include "agent/process.hpp"

namespace replagent::roles {

// The effects the init flows use; real ones in production, fakes in unit tests.
struct InitDeps {
  agent::Resolver& resolver;
  agent::PgClient& pg;
  agent::ProcessRunner& runner;
  agent::Clock& clock;
};

struct InitOutcome {
  agent::ExitCode code = agent::ExitCode::kOk;
  std::string message;  // one line: what happened, or why not and what to do
  // What a successful init did with the volume, recorded for the sidecar (InitRecord):
  // "initdb", "clone", "reclone", "kept" (valid data, no clone), "refreshed" (a primary's).
  std::string action;
  // Why a re-clone replaced a replica's data: "slot_missing", "slot_wal_removed",
  // "foreign_data"; empty otherwise.
  std::string reason;
};

// `replagent init`: works out the role from the pod's ordinal and prepares the data directory.
// Never throws for expected outcomes (timeouts, refusals, clone failures); throws AgentError
// for configuration errors.
InitOutcome run_init(const agent::Config& config, InitDeps deps);

// Entry point used by main: real effects, termination-log line, exit code.
int init_command(const agent::Config& config);

}  // namespace replagent::roles
