#pragma once

// The SQL the poller runs and the pure parsers that turn its text results into snapshot
// fields. Kept apart from the poller so every column rule is unit-tested on fake results.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/pg.hpp"
#include "probes/snapshot.hpp"

namespace replagent::probes {

// One round trip for what every role needs. Works on a primary and on a replica (functions
// that fail during recovery sit behind CASE). Needs pg_monitor or superuser for the WAL
// receiver columns.
extern const char* const kLocalStatusSql;
// Primary only: one row per WAL sender that is a replica.
extern const char* const kReplicationSql;
// Primary only: slots and the WAL each retains.
extern const char* const kSlotsSql;

struct LocalStatus {
  bool in_recovery = false;
  std::uint64_t system_identifier = 0;
  int timeline = 0;
  std::optional<std::uint64_t> current_lsn, receive_lsn, replay_lsn, latest_end_lsn;
  std::optional<double> last_replay_epoch;
  double now_epoch = 0;
  std::string wal_receiver_status;
  std::optional<double> primary_silence_seconds;  // since last_msg_receipt_time; >= 0
  std::optional<std::chrono::milliseconds> wal_receiver_timeout;
};

// nullopt (with *why) when the result does not have the expected shape.
std::optional<LocalStatus> parse_local_status(const agent::QueryResult& r, std::string* why);
std::vector<ReplicaRow> parse_replication(const agent::QueryResult& r);
std::vector<SlotRow> parse_slots(const agent::QueryResult& r);

// A non-negative byte count from pg_wal_lsn_diff()::bigint text; negative values (a sender
// that reported a position ahead of our read of pg_current_wal_lsn()) are 0.
std::optional<std::uint64_t> parse_byte_count(const std::optional<std::string>& text);
std::optional<double> parse_double(const std::optional<std::string>& text);

}  // namespace replagent::probes
