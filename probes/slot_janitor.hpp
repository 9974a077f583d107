#pragma once

// The primary's sidecar drops the replication slot of a pod that has left the set.
//
// A physical slot keeps every WAL segment its replica has not received. A replica scaled away
// (`replicas: 3 -> 1`) leaves its slot behind, inactive, and the primary keeps WAL for it until
// the volume is full and PostgreSQL PANICs. The pod's own DNS name tells whether it is gone:
// the headless Service publishes a record per pod (not-ready pods included), and NXDOMAIN says
// the pod does not exist. After sidecar.slot_drop_after of NXDOMAIN the slot is dropped,
// logged and counted; a pod that comes back finds no slot and re-clones (roles/init_replica).
// SERVFAIL or silence says nothing, so it never counts towards the drop.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "agent/dns.hpp"
#include "agent/pg.hpp"
#include "agent/pg_replication.hpp"
#include "probes/snapshot.hpp"

namespace replagent::probes {

struct SlotJanitorSettings {
  std::string set;      // the StatefulSet: its pods' slots are <set with _>_<ordinal>
  std::string service;  // headless Service
  std::string ns;
  std::string cluster_domain;
  int primary_ordinal = 0;
  std::chrono::milliseconds drop_after{10 * 60 * 1000};  // 0: never drop
  agent::ConnParams replication;  // the local server, as the replication role
};

class SlotJanitor {
 public:
  SlotJanitor(SlotJanitorSettings settings, agent::Resolver& resolver,
              agent::ReplicationClient& replication);

  // Looks at the primary's slots of this poll; drops those whose pod has been gone for
  // drop_after. Inactive slots only, and only names of this set's pods.
  void review(const std::vector<SlotRow>& slots, std::chrono::steady_clock::time_point now);

  std::uint64_t dropped() const { return dropped_; }

 private:
  // The pod a slot belongs to ("todo_db_2" -> "todo-db-2"), or "" when not one of the set's.
  std::string pod_of(const std::string& slot) const;

  SlotJanitorSettings settings_;
  agent::Resolver& resolver_;
  agent::ReplicationClient& replication_;
  std::map<std::string, std::chrono::steady_clock::time_point> gone_since_;
  std::uint64_t dropped_ = 0;
};

}  // namespace replagent::probes
