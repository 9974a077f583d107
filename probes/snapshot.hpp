// probes/: the sidecar (poller, snapshot, metrics, HTTP routes and server) and the probe
// command. Decisions are pure functions of a Snapshot; only the poller talks to PostgreSQL.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace replagent::probes {

// The role the server itself reports (pg_is_in_recovery()), never the one the ordinal implies.
enum class Role { kUnknown, kPrimary, kReplica };
const char* to_string(Role role);

// One row of pg_stat_replication on a primary: a replica's WAL sender.
struct ReplicaRow {
  std::string application_name;  // the replica's pod name (primary_conninfo sets it)
  std::string state;             // streaming, catchup, backup, startup, stopping
  // Bytes between the primary's current LSN and what the replica has been sent / written /
  // flushed / replayed; nullopt while the sender has not reported that position yet.
  std::optional<std::uint64_t> sent_lag_bytes, write_lag_bytes, flush_lag_bytes, replay_lag_bytes;
  // pg_stat_replication's *_lag intervals; see lag_seconds_or_zero for the NULL rule.
  std::optional<double> write_lag_seconds, flush_lag_seconds, replay_lag_seconds;
};

// A replication slot and the WAL it keeps from being recycled.
struct SlotRow {
  std::string name;
  bool active = false;
  std::optional<std::uint64_t> retained_bytes;  // nullopt: the slot has no restart_lsn yet
};

struct FilesystemStats {
  std::uint64_t size_bytes = 0;
  std::uint64_t avail_bytes = 0;  // what an unprivileged writer (postgres) can still use
};

// What one poll saw. Immutable once published: HTTP handlers read it without locks and never
// wait on PostgreSQL.
struct Snapshot {
  std::uint64_t sequence = 0;  // 1 for the first poll; 0 means "nothing polled yet"
  std::chrono::steady_clock::time_point taken_at{};
  std::chrono::system_clock::time_point taken_at_wall{};  // for /status only
  std::chrono::duration<double> poll_duration{0};

  bool server_up = false;    // the local server answered this poll's queries
  std::string server_error;  // why not, for /readyz and /status
  Role role = Role::kUnknown;
  bool in_recovery = false;
  // The role the series alerts depend on are exported for while the server is down (metrics.hpp),
  // so they say "down" instead of vanishing. Equal to `role` while server_up; while down, what
  // the data directory says (role_on_disk()), else the last role known, carried over from the
  // last published snapshot. kUnknown: nothing known yet (no data directory, unreadable).
  Role last_known_role = Role::kUnknown;
  std::uint64_t system_identifier = 0;
  int timeline = 0;

  // Primary.
  std::optional<std::uint64_t> current_lsn;
  std::vector<ReplicaRow> replicas;
  std::vector<SlotRow> slots;

  // Replica.
  std::optional<std::uint64_t> receive_lsn;     // pg_last_wal_receive_lsn()
  std::optional<std::uint64_t> replay_lsn;      // pg_last_wal_replay_lsn()
  std::optional<std::uint64_t> latest_end_lsn;  // WAL receiver: primary's LSN last reported
  // Seconds since the WAL receiver last heard from the primary (pg_stat_wal_receiver's
  // last_msg_receipt_time, against the replica's own clock); nullopt: no WAL receiver.
  std::optional<double> primary_silence_seconds;
  // The primary's end of WAL as far as this replica knows it: latest_end_lsn when
  // primary_view() judges it current, else nullopt and primary_error says why. Nothing here
  // comes from a connection to the primary: the sidecar opens none.
  std::optional<std::uint64_t> primary_lsn;
  std::string primary_error;        // why primary_lsn is missing
  std::string wal_receiver_status;  // "streaming", ...; empty: no WAL receiver
  // When the WAL receiver last heard from the primary, as of the last poll that had a current
  // primary position (carried over from poll to poll; the grace of sidecar.disconnected_grace
  // counts from here); unset: not since the sidecar started.
  std::optional<std::chrono::steady_clock::time_point> last_streaming_at;
  std::optional<double> replay_delay_seconds;

  std::optional<FilesystemStats> filesystem;  // the data directory's volume

  // Replication slots the primary's sidecar dropped since it started (slot_janitor.hpp).
  std::uint64_t slots_dropped = 0;

  // Cumulative since start, by reason ("connect", "query", "timeout", "statvfs").
  std::map<std::string, std::uint64_t> error_counts;
};

// Publication point between the poller thread and the HTTP thread. Readers get a
// shared_ptr that stays valid however long they hold it. GCC 12's libstdc++ has
// std::atomic<std::shared_ptr> (not lock-free: a short internal spinlock, fine here).
class SnapshotStore {
 public:
  std::shared_ptr<const Snapshot> load() const { return current_.load(); }
  void publish(std::shared_ptr<const Snapshot> s) { current_.store(std::move(s)); }

 private:
  std::atomic<std::shared_ptr<const Snapshot>> current_;
};

// What the data directory says the server is when it cannot be asked. `standby_signal`:
// PGDATA/standby.signal exists (PostgreSQL starts as a standby with it, and pg_promote()
// removes it before the server leaves recovery, so it is never behind pg_is_in_recovery()).
// `pg_version`: PGDATA/PG_VERSION exists (an initialised data directory). nullopt: could not
// be read (absent directory, permissions). A replica if standby.signal, else a primary if
// initialised, else kUnknown. Not pod.primary_ordinal: the role is observed, not assumed (a
// replica promoted by the runbook is a primary before the chart's primaryOrdinal follows).
Role role_on_disk(std::optional<bool> standby_signal, std::optional<bool> pg_version);

// --- lag arithmetic (pure) ---

// a - b for LSNs, 0 when b is ahead (a standby restarted mid-segment reports a receive
// position behind its replay position until the WAL receiver catches up).
std::uint64_t lsn_distance(std::uint64_t ahead, std::uint64_t behind);

// How current the primary's end of WAL as the WAL receiver last heard it (latest_end_lsn) is,
// from what walsender.c and walreceiver.c (PostgreSQL 15) do:
//   - Every message of the sender moves it: WAL data carries the primary's flush position at
//     the moment of sending (XLogSendPhysical's walEnd, the sender is woken on every flush),
//     a keepalive what it has sent (sentPtr). So while the primary writes, the replica learns
//     of each flush as soon as the WAL itself arrives: what it misses is only what is in flight.
//   - An idle primary sends nothing (the replica's status replies, every
//     wal_receiver_status_interval, ask for no answer; the sender's own keepalive comes only
//     wal_sender_timeout / 2 after the last reply, i.e. never while replies flow). There is
//     nothing new to send either: the position heard last is still the primary's end of WAL,
//     however old the message (latest_end_time stops moving; it is not a measure of staleness).
//   - A receiver that has heard nothing for wal_receiver_timeout / 2 asks for a reply, which a
//     live sender sends at once; at wal_receiver_timeout it gives up and stops streaming. So on
//     a live connection silence never lasts much beyond wal_receiver_timeout / 2 (default 30s).
//     Longer silence means a connection that died without a reset (the primary's host hung or
//     partitioned), during which the primary may be writing what the replica never sees.
// Hence the position is current only while the receiver streams and has heard from the primary
// within wal_receiver_timeout / 2 + kPingAnswerSlack; after that the lag is unknown, not
// small. With wal_receiver_timeout = 0 PostgreSQL never pings nor gives up, and neither can we:
// the position counts as current for as long as the receiver says it streams.
//
// Before the first message (latest_end_lsn still NULL): pg_stat_wal_receiver shows a row only
// once the receiver has connected, and the sender sends the WAL it has beyond the requested
// start at once. So a receiver that has streamed for kNothingToSend without a single message
// was told of nothing because there was nothing: the primary's end was where this replica
// started receiving, and nothing was flushed since (the sender is woken on every flush), so
// its position is what the replica has received (pg_last_wal_receive_lsn()). Without this, a
// new replica of an idle primary would wait for the primary's next WAL record (a standby
// snapshot every 15 s while anything is written, or the receiver's ping after
// wal_receiver_timeout / 2) before its lag, and so its readiness, were known. The silence
// bound above applies the same way (the receiver's clock starts when it does).
inline constexpr std::chrono::seconds kPingAnswerSlack{2};
inline constexpr std::chrono::seconds kNothingToSend{1};
struct PrimaryView {
  std::optional<std::uint64_t> lsn;  // the primary's end of WAL; nullopt: unknown
  std::string unknown;               // why lsn is nullopt (one line)
};
PrimaryView primary_view(const std::string& wal_receiver_status,
                         std::optional<std::uint64_t> latest_end_lsn,
                         std::optional<double> silence_seconds,
                         std::optional<std::chrono::milliseconds> wal_receiver_timeout,
                         std::optional<std::uint64_t> receive_lsn = std::nullopt);

// The primary's position as far as this replica knows (primary_lsn, see primary_view()).
std::optional<std::uint64_t> primary_position(const Snapshot& s);

// Replica lag in bytes at a stage ("receive" or "replay") against primary_position();
// nullopt when either side is unknown.
std::optional<std::uint64_t> replica_lag_bytes(const Snapshot& s, const std::string& stage);

// Seconds since the last replayed transaction, but 0 when the replica has replayed
// everything the primary has (primary_lsn): on an idle primary no new transactions arrive, so
// "now - last replay timestamp" grows forever although nothing is behind (postgres_exporter's
// pg_replication_lag has exactly this bug). Without the primary's position a replica that has
// replayed all it received may be caught up or far behind: nullopt. nullopt also when there is
// no replayed transaction to count from.
std::optional<double> replay_delay_seconds(std::optional<std::uint64_t> receive_lsn,
                                           std::optional<std::uint64_t> replay_lsn,
                                           std::optional<std::uint64_t> primary_lsn,
                                           std::optional<double> last_replay_epoch,
                                           double now_epoch);

// pg_stat_replication's *_lag columns turn NULL a moment after a replica has caught up
// (PostgreSQL stops measuring when there is nothing to measure). NULL with zero byte lag is
// therefore 0 s; NULL with bytes outstanding is unknown.
std::optional<double> lag_seconds_or_zero(std::optional<double> seconds,
                                          std::optional<std::uint64_t> lag_bytes);

}  // namespace replagent::probes
