// The effects a flow is handed: the real ones built by agent/cmd, fakes in unit tests. One
// shape for init and backup; the sidecar's poller takes the subset it uses, by the same names.
#pragma once

#include "agent/clock.hpp"
#include "agent/dns.hpp"
#include "agent/pg.hpp"
#include "agent/pg_replication.hpp"
#include "agent/process.hpp"
#include "agent/signals.hpp"

namespace replagent::agent {

struct Effects {
  Resolver& resolver;
  PgClient& pg;
  ReplicationClient& replication;  // the replication protocol (IDENTIFY_SYSTEM, slots)
  ProcessRunner& runner;
  // now() times waits and deadlines, wall_now() names and ages files; sleep_for wakes on stop.
  Clock& clock;
  // Long work checks it between steps; the real clock, runner and resolver were built with
  // the same token, so a stop also ends their waits.
  StopToken stop;
};

}  // namespace replagent::agent
