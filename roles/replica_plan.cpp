#include "roles/replica_plan.hpp"

#include <fmt/format.h>

namespace replagent::roles {
namespace {

ReplicaPlan refuse(std::string message) {
  ReplicaPlan p;
  p.kind = PlanKind::kRefuse;
  p.message = std::move(message);
  return p;
}

ReplicaPlan reclone(InitReason reason, std::string message) {
  ReplicaPlan p;
  p.kind = PlanKind::kReclone;
  p.reason = reason;
  p.message = std::move(message);
  return p;
}

// Valid replica data: which conninfo and markers it gets (see the TLS paragraph in the header).
ReplicaPlan keep(const ReplicaFacts& f) {
  ReplicaPlan p;
  p.kind = PlanKind::kKeep;
  // Pending: the primary serves no TLS yet, or could not be reached while still pending.
  p.tls_pending = f.tls && (f.primary ? f.primary->tls_pending
                                      : f.tls_pending_marker && !f.tls_verified_marker);
  if (!f.tls) {
    p.markers = TlsMarkers::kClear;
  } else if (f.primary && !f.primary->tls_pending) {
    p.markers = TlsMarkers::kVerified;
  } else {
    p.markers = p.tls_pending ? TlsMarkers::kPending : TlsMarkers::kUnchanged;
  }
  p.rewrite_conninfo = f.primary || !f.pin_primary_address;
  p.message = fmt::format(
      "valid replica data (system identifier {}{}), no clone; "
      "primary_conninfo refreshed",
      f.local_system_identifier, f.primary ? ", matches the primary" : "");
  return p;
}

ReplicaPlan decide_for_replica_data(const ReplicaFacts& f) {
  if (f.primary && f.primary->system_identifier != f.local_system_identifier) {
    if (!f.reclone_foreign_data) {
      return refuse(fmt::format(
          "{} holds a replica of another cluster (system identifier {}, "
          "the primary's is {}); nothing was changed; {}",
          f.data_dir, f.local_system_identifier, f.primary->system_identifier, reclone_hint()));
    }
    return reclone(
        InitReason::kForeignData,
        fmt::format("{} holds a replica of another cluster (system identifier {}, the "
                    "primary's is {}) and init.on_foreign_data=reclone",
                    f.data_dir, f.local_system_identifier, f.primary->system_identifier));
  }
  // Whether the primary still holds the WAL this replica needs to resume streaming. A replica
  // that was away (scaled down, its node gone) while the primary recycled WAL past
  // max_slot_wal_keep_size would otherwise start, fail to stream ("requested WAL segment has
  // already been removed") and stay behind forever, unnoticed.
  if (f.slot == SlotCheck::kMissing) {
    return reclone(InitReason::kSlotMissing,
                   fmt::format("replication slot {} does not exist on the primary {}, so nothing "
                               "kept the WAL this replica needs to resume",
                               f.slot_name, f.primary_host));
  }
  if (f.slot == SlotCheck::kWalRemoved) {
    return reclone(InitReason::kSlotWalRemoved,
                   fmt::format("replication slot {} on the primary {} was invalidated: the "
                               "primary removed WAL this replica had not received "
                               "(postgres.max_slot_wal_keep_size)",
                               f.slot_name, f.primary_host));
  }
  return keep(f);
}

}  // namespace

bool should_glance_at_primary(const ReplicaFacts& f) { return f.kind == DataDirKind::kReplica; }

bool should_check_slot(const ReplicaFacts& f) {
  return f.kind == DataDirKind::kReplica && f.primary &&
         f.primary->system_identifier == f.local_system_identifier;
}

const char* to_string(PlanKind kind) {
  switch (kind) {
    case PlanKind::kKeep:
      return "keep";
    case PlanKind::kClone:
      return "clone";
    case PlanKind::kReclone:
      return "reclone";
    case PlanKind::kRefuse:
      return "refuse";
  }
  return "unknown";
}

std::string reclone_hint() {
  return "set init.on_foreign_data=reclone (REPLAGENT_INIT_ON_FOREIGN_DATA=reclone) to move it "
         "aside and clone the primary, or empty the volume yourself";
}

ReplicaPlan decide_replica(const ReplicaFacts& f) {
  switch (f.kind) {
    case DataDirKind::kMissing:
    case DataDirKind::kEmpty: {
      ReplicaPlan p;
      p.kind = PlanKind::kClone;
      return p;
    }
    case DataDirKind::kReplica:
      return decide_for_replica_data(f);
    case DataDirKind::kPrimary:
      if (f.reclone_foreign_data) {
        return reclone(InitReason::kForeignData,
                       "a primary's data (no standby.signal) with init.on_foreign_data=reclone");
      }
      return refuse(
          fmt::format("{} holds a primary's data (no standby.signal; system identifier "
                      "{}), maybe a former primary: this pod is a replica, so it would "
                      "diverge; nothing was changed; {}",
                      f.data_dir, f.local_system_identifier, reclone_hint()));
    case DataDirKind::kUnknownContents:
      if (f.reclone_foreign_data) {
        return reclone(InitReason::kForeignData, "not a PostgreSQL data directory (" +
                                                     f.local_detail +
                                                     ") with init.on_foreign_data=reclone");
      }
      return refuse(
          fmt::format("{} is not empty and not a PostgreSQL data directory ({}); "
                      "nothing was changed; {}",
                      f.data_dir, f.local_detail, reclone_hint()));
  }
  return refuse("unreachable");
}

}  // namespace replagent::roles
