#pragma once

// What a replica's init does with its volume, decided from what it observed: a pure function
// (no I/O, no logging), so every branch is a row of test/unit/decide_replica_test.cpp. The
// executor (init_replica.cpp) gathers the facts and carries the plan out.

#include <cstdint>
#include <optional>
#include <string>

#include "roles/data_dir.hpp"
#include "roles/init.hpp"

namespace replagent::roles {

// What the primary told us, when we could reach it.
struct PrimaryFacts {
  std::string address;
  std::uint64_t system_identifier = 0;
  // Reached with the interim sslmode=prefer: TLS is on, the primary serves none yet and this
  // replica never verified it (see decide_replica's TLS paragraph).
  bool tls_pending = false;
};

// The state of this replica's slot on the primary (read_physical_slot).
enum class SlotCheck {
  kUnreadable,  // the query failed: nothing is known, the data is kept
  kMissing,     // no such slot: nothing kept the WAL this replica needs
  kWalRemoved,  // invalidated: the primary removed WAL this replica had not received
  kHealthy,     // exists and holds WAL
};

struct ReplicaFacts {
  // The volume.
  DataDirKind kind = DataDirKind::kMissing;
  std::uint64_t local_system_identifier = 0;
  std::string local_detail;  // why kUnknownContents
  std::string data_dir;      // postgres.data_dir, for messages
  // The settings that shape the decision.
  bool reclone_foreign_data = false;  // init.on_foreign_data=reclone
  bool tls = false;                   // postgres.tls()
  bool pin_primary_address = false;   // init.pin_primary_address
  // The TLS markers in the data directory (pg_files.hpp).
  bool tls_verified_marker = false;
  bool tls_pending_marker = false;
  // Names for messages.
  std::string primary_host;
  std::string slot_name;
  // What the primary said; nullopt when it could not be reached (or was not asked).
  std::optional<PrimaryFacts> primary;
  // The slot's state; nullopt when it was not looked at (should_check_slot).
  std::optional<SlotCheck> slot;
};

// Only a replica's data is worth a look at the primary before deciding.
bool should_glance_at_primary(const ReplicaFacts& facts);
// The slot matters only for data the reachable primary recognises as its own.
bool should_check_slot(const ReplicaFacts& facts);

enum class PlanKind {
  kKeep,     // valid replica data: rewrite our files, start from it
  kClone,    // nothing there: clone the primary
  kReclone,  // replace the data by a new clone (reason)
  kRefuse,   // leave the volume alone and fail (message)
};
const char* to_string(PlanKind kind);

// Which TLS markers a kept replica's init leaves in the data directory.
enum class TlsMarkers {
  kClear,      // TLS off: no markers (turning it on later starts the transition again)
  kVerified,   // the primary was verified (kTlsVerifiedFile)
  kPending,    // interim sslmode=prefer until the sidecar verifies it (kTlsPendingFile)
  kUnchanged,  // TLS on but the primary was not reached: what an earlier run found stands
};

struct ReplicaPlan {
  PlanKind kind = PlanKind::kRefuse;
  InitReason reason = InitReason::kNone;  // kReclone
  // kReclone: the sentence for the logs and the outcome; kKeep and kRefuse: the outcome's
  // message.
  std::string message;
  // kKeep: primary_conninfo with the interim sslmode=prefer instead of verify-full.
  bool tls_pending = false;
  TlsMarkers markers = TlsMarkers::kUnchanged;
  // kKeep: write primary_conninfo (false keeps the old pinned one: the primary's address
  // is unknown and init.pin_primary_address is set).
  bool rewrite_conninfo = true;
};

// Turning TLS on for a running set. The StatefulSet's rolling update restarts the replicas
// first and the primary last, so a replica that comes back with TLS on finds its primary
// still serving none. verify-full there would stop it streaming, keep it unready, and stall
// the roll before it reaches the primary: the set would never get TLS. So a replica that keeps
// its data and has never verified its primary (no kTlsVerifiedFile) streams with the interim
// sslmode=prefer while the primary serves no TLS (no worse than before: it streamed in clear),
// marked kTlsPendingFile; its sidecar switches it to verify-full once the primary verifies,
// without a restart (roles/tls_upgrade.hpp). Never the other way: a replica that has verified
// its primary once (kTlsVerifiedFile), and every new clone, only ever connects verifying it,
// and a certificate that fails verification is refused whatever the markers say.
ReplicaPlan decide_replica(const ReplicaFacts& facts);

// What the refusals tell the user to do.
std::string reclone_hint();

}  // namespace replagent::roles
