// init for a replica: look at the volume and the primary, decide (replica_plan.hpp), then keep
// valid data of this cluster or clone the primary (replica_clone.cpp).
#include "agent/tls.hpp"
#include "agent/topology.hpp"
#include "roles/init_steps.hpp"

namespace replagent::roles::detail {
namespace {

using agent::ExitCode;

// A quick, single look at the primary for the no-clone path: a pod restart must not wait for
// a primary that may itself be restarting. nullopt (with *why) when it cannot be reached.
std::optional<PrimaryFacts> glance_at_primary(const agent::Config& c, InitDeps& deps,
                                              const Topology& t, bool tls_verified_marker,
                                              std::string* why) {
  const auto answer = deps.resolver.resolve_ipv4(t.primary_host);
  if (answer.status != agent::DnsStatus::kOk || answer.addresses.empty()) {
    *why = fmt::format("{} does not resolve ({})", t.primary_host, agent::to_string(answer.status));
    return std::nullopt;
  }
  agent::PgError err;
  auto params = agent::replication_to(c, t.primary_host, answer.addresses.front(), c.pod.name);
  params.connect_timeout = std::chrono::seconds(2);
  auto info = deps.replication.identify_system(params, &err);
  if (!info && c.postgres.tls() && agent::is_tls_unsupported(err.message)) {
    if (tls_verified_marker) {
      *why = fmt::format(
          "{}: {}; this replica verified its primary over TLS before ({}), so it "
          "never connects to it unverified: if TLS was turned off on the primary "
          "on purpose, turn it off for the whole set",
          params.describe(), err.message, kTlsVerifiedFile);
      return std::nullopt;
    }
    // TLS is being turned on (replica_plan.hpp): the interim sslmode=prefer.
    spdlog::warn(
        "the primary {} serves no TLS yet ({}); this replica never verified it, so it "
        "streams with sslmode=prefer until the primary verifies, then the sidecar "
        "switches it to verify-full (turning TLS on restarts the primary last)",
        t.primary_host, err.message);
    params.sslrootcert.clear();
    info = deps.replication.identify_system(params, &err);
    if (info) return PrimaryFacts{answer.addresses.front(), info->system_identifier, true};
  }
  if (!info) {
    *why = fmt::format("{}: {}", params.describe(), err.message);
    return std::nullopt;
  }
  return PrimaryFacts{answer.addresses.front(), info->system_identifier};
}

// This replica's slot on the reachable primary (the WAL it needs to resume streaming).
SlotCheck read_slot(const agent::Config& c, InitDeps& deps, const Topology& t,
                    const PrimaryFacts& primary) {
  agent::PgError err;
  auto params = agent::replication_to(c, t.primary_host, primary.address, c.pod.name);
  if (primary.tls_pending) params.sslrootcert.clear();
  params.connect_timeout = std::chrono::seconds(2);
  const auto slot = deps.replication.read_physical_slot(params, t.slot, &err);
  if (!slot) {
    spdlog::warn("could not read replication slot {} on {} ({}); keeping the replica data", t.slot,
                 params.describe(), err.message);
    return SlotCheck::kUnreadable;
  }
  if (!slot->exists) return SlotCheck::kMissing;
  if (slot->wal_removed()) return SlotCheck::kWalRemoved;
  spdlog::info("replication slot {} on the primary holds WAL from {}", t.slot,
               agent::format_lsn(*slot->restart_lsn));
  return SlotCheck::kHealthy;
}

// What the volume holds and the settings that shape the decision; the primary and the slot
// are looked at only when they matter (should_glance_at_primary, should_check_slot).
ReplicaFacts observe(const agent::Config& c, InitDeps& deps, const Topology& t,
                     const DataDirState& local, std::string* unreachable_why) {
  ReplicaFacts f;
  f.kind = local.kind;
  f.local_system_identifier = local.system_identifier;
  f.local_detail = local.detail;
  f.data_dir = c.postgres.data_dir;
  f.reclone_foreign_data = c.init.on_foreign_data == agent::OnForeignData::kReclone;
  f.tls = c.postgres.tls();
  f.pin_primary_address = c.init.pin_primary_address;
  f.primary_host = t.primary_host;
  f.slot_name = t.slot;
  if (!should_glance_at_primary(f)) return f;
  f.tls_verified_marker = has_marker(c.postgres.data_dir, kTlsVerifiedFile);
  f.tls_pending_marker = has_marker(c.postgres.data_dir, kTlsPendingFile);
  f.primary = glance_at_primary(c, deps, t, f.tls_verified_marker, unreachable_why);
  if (should_check_slot(f)) f.slot = read_slot(c, deps, t, *f.primary);
  return f;
}

// Valid replica data stays: our files rewritten, the TLS markers the plan chose.
InitOutcome keep(const agent::Config& c, InitDeps& deps, const Topology& t,
                 const ReplicaFacts& facts, const ReplicaPlan& plan,
                 const std::string& unreachable_why) {
  if (!facts.primary) {
    spdlog::warn(
        "could not check the primary ({}); keeping the existing replica data "
        "(system identifier {}) unverified",
        unreachable_why, facts.local_system_identifier);
  }
  const std::string& pgdata = c.postgres.data_dir;
  const agent::Config files = with_primary_minimums(c, deps, pgdata);
  if (plan.rewrite_conninfo) {
    const std::string address = facts.primary ? facts.primary->address : "";
    write_replica_files(pgdata, files, conninfo_for(c, t, address, plan.tls_pending), t.slot);
  } else {
    write_primary_files(pgdata, files);  // keep the old pinned conninfo
  }
  write_tls_markers(pgdata, plan.markers);
  InitOutcome kept = outcome(ExitCode::kOk, plan.message);
  kept.action = InitAction::kKept;
  return kept;
}

}  // namespace

InitOutcome run_replica(const agent::Config& c, InitDeps& deps, const Topology& t,
                        const DataDirState& local) {
  // 1. What the volume holds and, for a replica's data, what the primary says about it.
  std::string unreachable_why;
  const ReplicaFacts facts = observe(c, deps, t, local, &unreachable_why);
  // 2. Decide.
  const ReplicaPlan plan = decide_replica(facts);
  // 3. Carry it out.
  switch (plan.kind) {
    case PlanKind::kKeep:
      return keep(c, deps, t, facts, plan, unreachable_why);
    case PlanKind::kClone:
      return clone(c, deps, t, local, nullptr);
    case PlanKind::kReclone:
      return clone(c, deps, t, local, &plan);
    case PlanKind::kRefuse:
      return outcome(ExitCode::kUnsafeData, plan.message);
  }
  return outcome(ExitCode::kFailed, "unreachable");
}

}  // namespace replagent::roles::detail
