// The snapshots the routes tests (routes_test.cpp, routes_privacy_test.cpp) answer from: a
// primary with one streaming replica, and a streaming replica. Header only.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "probes/routes.hpp"

namespace replagent::probes::routes_test {

using namespace std::chrono_literals;

inline const SteadyTime kNow = SteadyTime() + 1000s;

inline Snapshot primary() {
  Snapshot s;
  s.sequence = 7;
  s.taken_at = kNow - 500ms;
  s.server_up = true;
  s.role = Role::kPrimary;
  s.system_identifier = 7712161188363855152ULL;
  s.timeline = 1;
  s.current_lsn = 0x3000060;
  s.replicas.push_back(
      ReplicaRow{"db-1", "streaming", 0, 0, 0, 10, std::nullopt, std::nullopt, 0.5});
  s.slots.push_back(SlotRow{"db_1", true, 4096});
  return s;
}

// A streaming replica `lag` bytes behind the primary's position.
inline Snapshot replica(std::uint64_t lag = 0) {
  Snapshot s;
  s.sequence = 3;
  s.taken_at = kNow - 1s;
  s.server_up = true;
  s.role = Role::kReplica;
  s.in_recovery = true;
  s.primary_lsn = 0x5000000;
  s.receive_lsn = 0x5000000;
  s.replay_lsn = 0x5000000 - lag;
  s.wal_receiver_status = "streaming";
  return s;
}

}  // namespace replagent::probes::routes_test
