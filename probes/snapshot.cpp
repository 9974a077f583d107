#include "probes/snapshot.hpp"

#include <fmt/format.h>

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

Role role_on_disk(std::optional<bool> standby_signal, std::optional<bool> pg_version) {
  if (standby_signal.value_or(false)) return Role::kReplica;
  if (standby_signal && pg_version.value_or(false)) return Role::kPrimary;
  return Role::kUnknown;
}

std::uint64_t lsn_distance(std::uint64_t ahead, std::uint64_t behind) {
  return ahead > behind ? ahead - behind : 0;
}

PrimaryView primary_view(const std::string& wal_receiver_status,
                         std::optional<std::uint64_t> latest_end_lsn,
                         std::optional<double> silence_seconds,
                         std::optional<std::chrono::milliseconds> wal_receiver_timeout,
                         std::optional<std::uint64_t> receive_lsn) {
  if (wal_receiver_status != "streaming") {
    return {std::nullopt, wal_receiver_status.empty()
                              ? std::string("WAL receiver not running")
                              : "WAL receiver " + wal_receiver_status + ", not streaming"};
  }
  if (!latest_end_lsn) {
    // Nothing sent since the receiver started: nothing to send (see the header).
    const bool settled = silence_seconds &&
                         *silence_seconds >= std::chrono::duration<double>(kNothingToSend).count();
    if (!settled || !receive_lsn)
      return {std::nullopt, "WAL receiver streaming, no message from the primary yet"};
    latest_end_lsn = receive_lsn;
  }
  if (silence_seconds && wal_receiver_timeout && wal_receiver_timeout->count() > 0) {
    const std::chrono::duration<double> limit = *wal_receiver_timeout / 2 + kPingAnswerSlack;
    if (*silence_seconds > limit.count()) {
      return {std::nullopt,
              fmt::format("WAL receiver silent: nothing heard from the primary for {:.1f}s "
                          "(a live sender answers within wal_receiver_timeout/2 = {:.0f}s)",
                          *silence_seconds,
                          std::chrono::duration<double>(*wal_receiver_timeout / 2).count())};
    }
  }
  return {latest_end_lsn, ""};
}

std::optional<std::uint64_t> primary_position(const Snapshot& s) { return s.primary_lsn; }

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
    if (primary_lsn && *replay_lsn >= *primary_lsn) return 0.0;
    // Replayed all it received, the primary's end unknown: caught up or cut off, who knows.
    if (!primary_lsn && receive_lsn && *replay_lsn >= *receive_lsn) return std::nullopt;
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
