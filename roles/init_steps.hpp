#pragma once

// Steps shared by the primary and replica init flows (internal to roles/).

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <optional>
#include <string>

#include "agent/backoff.hpp"
#include "agent/identity.hpp"
#include "agent/signals.hpp"
#include "agent/topology.hpp"
#include "agent/units.hpp"
#include "roles/data_dir.hpp"
#include "roles/init.hpp"
#include "roles/pg_files.hpp"
#include "roles/replica_plan.hpp"

namespace replagent::roles::detail {

// Who we are and who the primary is (agent/topology.hpp), as the steps below take it.
using agent::Topology;

enum class WaitEnd { kDone, kTimedOut, kStopped };

// Calls attempt(&reason) until it returns a value, the deadline passes or a stop is requested,
// sleeping with capped exponential backoff between tries and logging why it waits.
template <typename T, typename Attempt>
WaitEnd wait_for(InitDeps& deps, const agent::Config& config, agent::Clock::time_point deadline,
                 const std::string& what, Attempt attempt, std::optional<T>* out,
                 std::string* last_reason) {
  agent::Backoff backoff(config.init.backoff_initial, config.init.backoff_max);
  for (int tries = 1;; ++tries) {
    *out = attempt(last_reason);
    if (*out) return WaitEnd::kDone;
    if (deps.stop.stop_requested()) return WaitEnd::kStopped;
    const auto now = deps.clock.now();
    if (now >= deadline) return WaitEnd::kTimedOut;
    auto delay = backoff.next();
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    if (delay > left) delay = left;
    spdlog::info("waiting for {}: {} (try {}, next in {})", what, *last_reason, tries,
                 agent::format_duration(delay));
    if (!deps.clock.sleep_for(delay)) return WaitEnd::kStopped;
  }
}

InitOutcome outcome(agent::ExitCode code, std::string message);

// The line of a failed tool's output that says why: its last "error:"/"FATAL:"/"could not"
// line (pg_basebackup prints its cleanup after the error), else its last line.
std::string failure_line(const agent::ProcessResult& result);

// ---- The replica's steps (init_replica.cpp, replica_clone.cpp, replica_files.cpp)

// Whether `name` (kTlsPendingFile, kTlsVerifiedFile) is in `data_dir`.
bool has_marker(const std::string& data_dir, const char* name);
// Leaves the TLS markers in `data_dir` that the plan decided.
void write_tls_markers(const std::string& data_dir, TlsMarkers markers);
// The primary_conninfo for the primary at `address` ("" unless init.pin_primary_address).
PrimaryConnInfo conninfo_for(const agent::Config& config, const Topology& topo,
                             const std::string& address, bool tls_pending = false);
// A hot standby refuses to run with a lower max_connections, max_worker_processes,
// max_wal_senders, max_prepared_transactions or max_locks_per_transaction than its primary
// (recovery aborts "because of insufficient parameter settings"); its control file records
// the primary's values, from the clone and from every parameter change it replays. A lowered
// setting (postgres.parameters, or max_wal_senders from the chart's maxReplicas) reaches the
// replicas first, since a rolling update restarts the primary last, so each replica keeps at
// least the primary's value until the primary itself runs with the lower one. One not set at
// all is written at the primary's value: postgresql.conf's (the clone's) could be lower.
// Returns `config` with those raised, read from `data_dir`'s control file.
agent::Config with_primary_minimums(const agent::Config& config, InitDeps& deps,
                                    const std::string& data_dir);
// Clones the primary into staging and swaps it in; `reclone` (a kReclone plan) says why the
// data in `local` is replaced, nullptr for an empty volume.
InitOutcome clone(const agent::Config& config, InitDeps& deps, const Topology& topo,
                  const DataDirState& local, const ReplicaPlan* reclone);

// The role flows, given what the data directory held once an earlier run's leftovers were gone.
InitOutcome run_primary(const agent::Config& config, InitDeps& deps, const Topology& topo,
                        const DataDirState& local);
InitOutcome run_replica(const agent::Config& config, InitDeps& deps, const Topology& topo,
                        const DataDirState& local);

}  // namespace replagent::roles::detail
