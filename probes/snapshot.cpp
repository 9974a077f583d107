#include "probes/snapshot.hpp"

#include <algorithm>

namespace replagent::probes {

const char* to_string(Role role) {
  switch (role) {
    case Role::kPrimary:
      return "primary";
    case Role::kReplica:
      return "replica";
    case Role::kUnknown:
      break;
  }
  return "unknown";
}

std::uint64_t lsn_distance(std::uint64_t ahead, std::uint64_t behind) {
  return ahead > behind ? ahead - behind : 0;
}

std::optional<std::uint64_t> primary_position(const Snapshot& s) {
  if (s.primary_lsn && s.latest_end_lsn) return std::max(*s.primary_lsn, *s.latest_end_lsn);
  if (s.primary_lsn) return s.primary_lsn;
  return s.latest_end_lsn;
}

std::optional<std::uint64_t> replica_lag_bytes(const Snapshot& s, const std::string& stage) {
  const auto primary = primary_position(s);
  auto mine = stage == "receive" ? s.receive_lsn : s.replay_lsn;
  // What was replayed was received. pg_last_wal_receive_lsn() restarts from a segment
  // boundary when the WAL receiver (re)starts, i.e. behind the replay position, which would
  // show a receive lag that is not there.
  if (stage == "receive" && s.replay_lsn && (!mine || *mine < *s.replay_lsn)) mine = s.replay_lsn;
  if (!primary || !mine) return std::nullopt;
  return lsn_distance(*primary, *mine);
}

std::optional<double> replay_delay_seconds(std::optional<std::uint64_t> receive_lsn,
                                           std::optional<std::uint64_t> replay_lsn,
                                           std::optional<std::uint64_t> primary_lsn,
                                           std::optional<double> last_replay_epoch,
                                           double now_epoch) {
  if (replay_lsn) {
    // The primary's own position is the better yardstick; without it, what the WAL receiver
    // has received is all the replica could replay.
    const auto target = primary_lsn ? primary_lsn : receive_lsn;
    if (target && *replay_lsn >= *target) return 0.0;
  }
  if (!last_replay_epoch) return std::nullopt;
  return std::max(0.0, now_epoch - *last_replay_epoch);
}

std::optional<double> lag_seconds_or_zero(std::optional<double> seconds,
                                          std::optional<std::uint64_t> lag_bytes) {
  if (seconds) return std::max(0.0, *seconds);
  if (lag_bytes && *lag_bytes == 0) return 0.0;
  return std::nullopt;
}

}  // namespace replagent::probes
