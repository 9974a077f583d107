// Facts -> plan for a replica's init, table-driven over every branch of decide_replica: what
// the volume holds, what the primary and its slot said, on_foreign_data, and the TLS markers.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "roles/replica_plan.hpp"

namespace replagent::roles {
namespace {

constexpr std::uint64_t kSysid = 7300000000000000001ULL;
constexpr std::uint64_t kOtherSysid = 7300000000000000002ULL;

// A replica's data directory of cluster kSysid; nothing looked at yet.
ReplicaFacts replica_data() {
  ReplicaFacts f;
  f.kind = DataDirKind::kReplica;
  f.local_system_identifier = kSysid;
  f.data_dir = "/var/lib/postgresql/data/pgdata";
  f.primary_host = "todo-db-0.todo-db.default.svc.cluster.local";
  f.slot_name = "todo_db_1";
  return f;
}

// The primary reached (verifying it, when TLS is on) with system identifier `sysid`.
PrimaryFacts primary(std::uint64_t sysid = kSysid, bool tls_pending = false) {
  return PrimaryFacts{"10.0.0.10", sysid, tls_pending};
}

using Edit = std::function<void(ReplicaFacts&)>;

struct Case {
  const char* name;
  Edit facts;  // applied to replica_data()
  PlanKind kind;
  InitReason reason = InitReason::kNone;
  std::vector<std::string> message_has = {};
  // Checked for kKeep only.
  TlsMarkers markers = TlsMarkers::kClear;
  bool tls_pending = false;
  bool rewrite_conninfo = true;
  std::string message_lacks = "";
};

const Case kCases[] = {
    // Nothing there: a clone, whatever on_foreign_data says.
    {"missing_clones", [](ReplicaFacts& f) { f.kind = DataDirKind::kMissing; }, PlanKind::kClone},
    {"empty_clones", [](ReplicaFacts& f) { f.kind = DataDirKind::kEmpty; }, PlanKind::kClone},
    {"empty_with_reclone_allowed_is_a_plain_clone",
     [](ReplicaFacts& f) {
       f.kind = DataDirKind::kEmpty;
       f.reclone_foreign_data = true;
     },
     PlanKind::kClone},

    // A replica's data of this cluster.
    {"primary_unreachable_keeps_unverified",
     [](ReplicaFacts&) {},
     PlanKind::kKeep,
     InitReason::kNone,
     {"valid replica data (system identifier 7300000000000000001), no clone"},
     TlsMarkers::kClear,
     false,
     true,
     "matches the primary"},
    {"primary_unreachable_and_pinned_keeps_the_old_conninfo",
     [](ReplicaFacts& f) { f.pin_primary_address = true; },
     PlanKind::kKeep,
     InitReason::kNone,
     {},
     TlsMarkers::kClear,
     false,
     /*rewrite_conninfo=*/false},
    {"pinned_with_primary_reached_rewrites_the_conninfo",
     [](ReplicaFacts& f) {
       f.pin_primary_address = true;
       f.primary = primary();
       f.slot = SlotCheck::kHealthy;
     },
     PlanKind::kKeep,
     InitReason::kNone,
     {"matches the primary"},
     TlsMarkers::kClear,
     false,
     true},
    {"healthy_slot_keeps",
     [](ReplicaFacts& f) {
       f.primary = primary();
       f.slot = SlotCheck::kHealthy;
     },
     PlanKind::kKeep,
     InitReason::kNone,
     {"valid replica data (system identifier 7300000000000000001, matches the primary), no "
      "clone; primary_conninfo refreshed"}},
    {"unreadable_slot_keeps",
     [](ReplicaFacts& f) {
       f.primary = primary();
       f.slot = SlotCheck::kUnreadable;
     },
     PlanKind::kKeep,
     InitReason::kNone,
     {"matches the primary"}},
    {"missing_slot_reclones",
     [](ReplicaFacts& f) {
       f.primary = primary();
       f.slot = SlotCheck::kMissing;
     },
     PlanKind::kReclone,
     InitReason::kSlotMissing,
     {"replication slot todo_db_1 does not exist on the primary "
      "todo-db-0.todo-db.default.svc.cluster.local"}},
    {"invalidated_slot_reclones",
     [](ReplicaFacts& f) {
       f.primary = primary();
       f.slot = SlotCheck::kWalRemoved;
     },
     PlanKind::kReclone,
     InitReason::kSlotWalRemoved,
     {"replication slot todo_db_1 on the primary todo-db-0.todo-db.default.svc.cluster.local "
      "was invalidated",
      "(postgres.max_slot_wal_keep_size)"}},

    // Another cluster's replica.
    {"foreign_replica_is_refused",
     [](ReplicaFacts& f) { f.primary = primary(kOtherSysid); },
     PlanKind::kRefuse,
     InitReason::kNone,
     {"/var/lib/postgresql/data/pgdata holds a replica of another cluster (system identifier "
      "7300000000000000001, the primary's is 7300000000000000002); nothing was changed",
      "init.on_foreign_data=reclone"}},
    {"foreign_replica_is_refused_whatever_its_slot",
     [](ReplicaFacts& f) {
       f.primary = primary(kOtherSysid);
       f.slot = SlotCheck::kWalRemoved;
     },
     PlanKind::kRefuse,
     InitReason::kNone,
     {"another cluster"}},
    {"foreign_replica_reclones_when_allowed",
     [](ReplicaFacts& f) {
       f.primary = primary(kOtherSysid);
       f.reclone_foreign_data = true;
     },
     PlanKind::kReclone,
     InitReason::kForeignData,
     {"holds a replica of another cluster (system identifier 7300000000000000001, the "
      "primary's is 7300000000000000002) and init.on_foreign_data=reclone"}},

    // A primary's data, or no data directory, in a replica's volume.
    {"primary_data_is_refused",
     [](ReplicaFacts& f) { f.kind = DataDirKind::kPrimary; },
     PlanKind::kRefuse,
     InitReason::kNone,
     {"holds a primary's data (no standby.signal; system identifier 7300000000000000001), "
      "maybe a former primary",
      "init.on_foreign_data=reclone"}},
    {"primary_data_reclones_when_allowed",
     [](ReplicaFacts& f) {
       f.kind = DataDirKind::kPrimary;
       f.reclone_foreign_data = true;
     },
     PlanKind::kReclone,
     InitReason::kForeignData,
     {"a primary's data (no standby.signal) with init.on_foreign_data=reclone"}},
    {"unknown_contents_are_refused",
     [](ReplicaFacts& f) {
       f.kind = DataDirKind::kUnknownContents;
       f.local_detail = "no PG_VERSION";
     },
     PlanKind::kRefuse,
     InitReason::kNone,
     {"is not empty and not a PostgreSQL data directory (no PG_VERSION); nothing was changed"}},
    {"unknown_contents_reclone_when_allowed",
     [](ReplicaFacts& f) {
       f.kind = DataDirKind::kUnknownContents;
       f.local_detail = "no PG_VERSION";
       f.reclone_foreign_data = true;
     },
     PlanKind::kReclone,
     InitReason::kForeignData,
     {"not a PostgreSQL data directory (no PG_VERSION) with init.on_foreign_data=reclone"}},

    // TLS on a kept replica (replica_plan.hpp: turning TLS on).
    {"tls_primary_verified_marks_verified",
     [](ReplicaFacts& f) {
       f.tls = true;
       f.primary = primary();
       f.slot = SlotCheck::kHealthy;
     },
     PlanKind::kKeep,
     InitReason::kNone,
     {},
     TlsMarkers::kVerified,
     /*tls_pending=*/false},
    {"tls_primary_serving_none_is_pending",
     [](ReplicaFacts& f) {
       f.tls = true;
       f.primary = primary(kSysid, /*tls_pending=*/true);
       f.slot = SlotCheck::kHealthy;
     },
     PlanKind::kKeep,
     InitReason::kNone,
     {},
     TlsMarkers::kPending,
     /*tls_pending=*/true},
    {"tls_pending_and_unreachable_stays_pending",
     [](ReplicaFacts& f) {
       f.tls = true;
       f.tls_pending_marker = true;
     },
     PlanKind::kKeep,
     InitReason::kNone,
     {},
     TlsMarkers::kPending,
     /*tls_pending=*/true},
    {"tls_verified_once_never_goes_back_to_prefer",
     [](ReplicaFacts& f) {
       f.tls = true;
       f.tls_pending_marker = true;
       f.tls_verified_marker = true;
     },
     PlanKind::kKeep,
     InitReason::kNone,
     {},
     TlsMarkers::kUnchanged,
     /*tls_pending=*/false},
    {"tls_unreachable_without_markers_verifies",
     [](ReplicaFacts& f) { f.tls = true; },
     PlanKind::kKeep,
     InitReason::kNone,
     {},
     TlsMarkers::kUnchanged,
     /*tls_pending=*/false},
    {"tls_off_clears_the_markers",
     [](ReplicaFacts& f) {
       f.tls_pending_marker = true;
       f.tls_verified_marker = true;
       f.primary = primary();
       f.slot = SlotCheck::kHealthy;
     },
     PlanKind::kKeep,
     InitReason::kNone,
     {},
     TlsMarkers::kClear,
     /*tls_pending=*/false},
};

TEST(DecideReplica, Table) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    ReplicaFacts facts = replica_data();
    c.facts(facts);
    const ReplicaPlan plan = decide_replica(facts);
    EXPECT_STREQ(to_string(plan.kind), to_string(c.kind));
    EXPECT_STREQ(to_string(plan.reason), to_string(c.reason));
    for (const auto& part : c.message_has)
      EXPECT_NE(plan.message.find(part), std::string::npos) << plan.message;
    if (!c.message_lacks.empty()) {
      EXPECT_EQ(plan.message.find(c.message_lacks), std::string::npos) << plan.message;
    }
    if (c.kind == PlanKind::kClone) {
      EXPECT_EQ(plan.message, "");
    }
    if (c.kind != PlanKind::kKeep) continue;
    EXPECT_EQ(static_cast<int>(plan.markers), static_cast<int>(c.markers));
    EXPECT_EQ(plan.tls_pending, c.tls_pending);
    EXPECT_EQ(plan.rewrite_conninfo, c.rewrite_conninfo);
  }
}

// The executor looks at the primary only for a replica's data, and at the slot only when the
// reachable primary recognises the data as its own: no login to a primary for nothing.
TEST(DecideReplica, WhatIsLookedAt) {
  struct Row {
    const char* name;
    Edit facts;
    bool glance;
    bool slot;
  };
  const Row rows[] = {
      {"replica_unreached", [](ReplicaFacts&) {}, true, false},
      {"replica_reached", [](ReplicaFacts& f) { f.primary = primary(); }, true, true},
      {"foreign_replica", [](ReplicaFacts& f) { f.primary = primary(kOtherSysid); }, true, false},
      {"empty", [](ReplicaFacts& f) { f.kind = DataDirKind::kEmpty; }, false, false},
      {"missing", [](ReplicaFacts& f) { f.kind = DataDirKind::kMissing; }, false, false},
      {"primary_data", [](ReplicaFacts& f) { f.kind = DataDirKind::kPrimary; }, false, false},
      {"unknown", [](ReplicaFacts& f) { f.kind = DataDirKind::kUnknownContents; }, false, false},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.name);
    ReplicaFacts facts = replica_data();
    r.facts(facts);
    EXPECT_EQ(should_glance_at_primary(facts), r.glance);
    EXPECT_EQ(should_check_slot(facts), r.slot);
  }
}

}  // namespace
}  // namespace replagent::roles
