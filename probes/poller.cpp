#include "probes/poller.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "agent/signals.hpp"
#include "agent/topology.hpp"
#include "agent/units.hpp"
#include "probes/queries.hpp"

namespace replagent::probes {
namespace {

// Each query is cut off server side well inside one poll interval, so a slow catalog read
// delays one snapshot, not the poller.
std::chrono::milliseconds statement_timeout(std::chrono::milliseconds interval) {
  return std::clamp<std::chrono::milliseconds>(interval / 2, std::chrono::milliseconds(500),
                                               std::chrono::milliseconds(5000));
}

// Whether `dir/name` exists; nullopt when that cannot be told (dir unreadable or absent).
std::optional<bool> file_exists(const std::string& dir, const char* name) {
  if (dir.empty()) return std::nullopt;
  std::error_code ec;
  const auto st = std::filesystem::status(std::filesystem::path(dir) / name, ec);
  if (st.type() == std::filesystem::file_type::not_found) {
    // ENOENT for the file, but also for the directory itself: only a readable directory says.
    if (!std::filesystem::is_directory(dir, ec) || ec) return std::nullopt;
    return false;
  }
  if (ec) return std::nullopt;
  return true;
}

std::string error_text(const agent::PgError& e) {
  return e.sqlstate.empty() ? e.message : e.message + " (SQLSTATE " + e.sqlstate + ")";
}

}  // namespace

// The client-side bound (ConnParams::io_timeout) on connecting and on each query. The
// server's statement_timeout ends a slow query first, with a proper error; this one catches
// a server that does not answer at all (a stopped process: its kernel still accepts and
// ACKs, so TCP keepalives and connect_timeout never fire). A poll waits at most twice (connect,
// then the query it is in), and a snapshot older than kStaleIntervals (3) intervals
// counts as unknown: 2 x (interval / 2 + 250 ms) stays within that from 500 ms intervals up,
// so a frozen server is reported as "did not answer", not as a stale snapshot.
std::chrono::milliseconds io_deadline(std::chrono::milliseconds interval) {
  return statement_timeout(interval) + std::chrono::milliseconds(250);
}

PollerTargets poller_targets(const agent::Config& c) {
  PollerTargets t;
  t.data_dir = c.postgres.data_dir;
  t.local = agent::local_monitor(c, statement_timeout(c.sidecar.poll_interval));
  t.local.io_timeout = io_deadline(c.sidecar.poll_interval);
  return t;
}

std::optional<FilesystemStats> statvfs_stats(const std::string& path, std::string* why) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) {
    *why = fmt::format("statvfs {}: {}", path, std::strerror(errno));
    return std::nullopt;
  }
  return FilesystemStats{static_cast<std::uint64_t>(st.f_blocks) * st.f_frsize,
                         static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize};
}

Poller::Poller(const agent::Config& config, PollerTargets targets, PollerDeps deps,
               SnapshotStore& store)
    : interval_(config.sidecar.poll_interval),
      targets_(std::move(targets)),
      deps_(std::move(deps)),
      store_(store),
      local_backoff_(std::chrono::milliseconds(500), std::chrono::milliseconds(5000)) {}

void Poller::fail(const std::string& reason) { ++errors_[reason]; }

void Poller::poll_local(Snapshot& s) {
  const auto now = deps_.clock.now();
  if (!session_) {
    if (now < next_local_attempt_) {
      s.server_error = local_error_ + " (retrying)";
      return;
    }
    agent::PgError err;
    session_ = deps_.pg.connect(targets_.local, &err);
    if (!session_) {
      fail(err.timed_out ? "timeout" : "connect");
      local_error_ =
          fmt::format("cannot connect to {}: {}", targets_.local.describe(), error_text(err));
      next_local_attempt_ = now + local_backoff_.next();
      s.server_error = local_error_;
      if (was_up_) spdlog::warn("sidecar: local server went away: {}", local_error_);
      was_up_ = false;
      return;
    }
    local_backoff_.reset();
  }
  agent::QueryResult r;
  if (auto e = session_->exec(kLocalStatusSql, &r)) {
    fail(e->timed_out ? "timeout" : "query");
    s.server_error = "status query failed: " + error_text(*e);
    session_.reset();  // a lost connection reconnects on the next poll
    if (was_up_) spdlog::warn("sidecar: {}", s.server_error);
    was_up_ = false;
    return;
  }
  std::string why;
  auto st = parse_local_status(r, &why);
  if (!st) {
    fail("query");
    s.server_error = why;
    return;
  }
  if (!was_up_) spdlog::info("sidecar: connected to {}", targets_.local.describe());
  was_up_ = true;
  s.server_up = true;
  s.in_recovery = st->in_recovery;
  s.role = st->in_recovery ? Role::kReplica : Role::kPrimary;
  s.system_identifier = st->system_identifier;
  s.timeline = st->timeline;
  s.current_lsn = st->current_lsn;
  s.receive_lsn = st->receive_lsn;
  s.replay_lsn = st->replay_lsn;
  s.latest_end_lsn = st->latest_end_lsn;
  s.primary_silence_seconds = st->primary_silence_seconds;
  s.wal_receiver_status = st->wal_receiver_status;
  if (s.role == Role::kPrimary) {
    agent::QueryResult rows;
    if (auto e = session_->exec(kReplicationSql, &rows)) {
      secondary_query_failed("pg_stat_replication", *e);
    } else {
      s.replicas = parse_replication(rows);
    }
    agent::QueryResult slots;
    if (!session_) return;
    if (auto e = session_->exec(kSlotsSql, &slots)) {
      secondary_query_failed("pg_replication_slots", *e);
    } else {
      s.slots = parse_slots(slots);
      if (deps_.janitor) deps_.janitor->review(s.slots, deps_.clock.now());
    }
    return;
  }
  // The primary's position from the WAL receiver alone: no connection to the primary.
  const PrimaryView view =
      primary_view(st->wal_receiver_status, st->latest_end_lsn, st->primary_silence_seconds,
                   st->wal_receiver_timeout, s.receive_lsn);
  s.primary_lsn = view.lsn;
  s.primary_error = view.unknown;
  s.replay_delay_seconds = replay_delay_seconds(s.receive_lsn, s.replay_lsn, s.primary_lsn,
                                                st->last_replay_epoch, st->now_epoch);
}

// The primary's extra queries: their rows are missing from this snapshot, the server still
// counts as up (it answered the status query). A timed-out session is closed: reconnect.
void Poller::secondary_query_failed(const char* what, const agent::PgError& e) {
  fail(e.timed_out ? "timeout" : "query");
  if (e.timed_out) {
    spdlog::warn("sidecar: {}: {}", what, error_text(e));
    session_.reset();
  } else {
    spdlog::debug("sidecar: {}: {}", what, error_text(e));
  }
}

Snapshot Poller::poll_once() {
  const auto started = deps_.clock.now();
  Snapshot s;
  poll_local(s);
  if (!targets_.data_dir.empty() && deps_.filesystem) {
    std::string why;
    s.filesystem = deps_.filesystem(targets_.data_dir, &why);
    if (!s.filesystem) {
      fail("statvfs");
      spdlog::debug("sidecar: {}", why);
    }
  }
  // The role the alerts' series keep while the server is down (Snapshot::last_known_role).
  if (s.server_up) {
    s.last_known_role = s.role;
  } else {
    s.last_known_role = role_on_disk(file_exists(targets_.data_dir, "standby.signal"),
                                     file_exists(targets_.data_dir, "PG_VERSION"));
    if (s.last_known_role == Role::kUnknown) {
      if (const auto previous = store_.load()) s.last_known_role = previous->last_known_role;
    }
  }
  s.taken_at = deps_.clock.now();
  s.taken_at_wall = deps_.clock.wall_now();
  // The grace of sidecar.disconnected_grace counts from the last message of the primary (not
  // from this poll): a connection that went silent is not "streaming" for the time the
  // receiver takes to notice.
  if (s.server_up && s.role == Role::kReplica && s.primary_lsn) {
    last_streaming_at_ =
        s.taken_at - std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(s.primary_silence_seconds.value_or(0)));
  }
  // A promoted replica is a primary: its streaming past no longer says anything.
  if (s.server_up && s.role == Role::kPrimary) last_streaming_at_.reset();
  s.last_streaming_at = last_streaming_at_;
  s.poll_duration = s.taken_at - started;
  s.sequence = ++sequence_;
  if (deps_.janitor) s.slots_dropped = deps_.janitor->dropped();
  s.error_counts = errors_;
  return s;
}

void Poller::run() {
  while (!stop_.load() && !deps_.stop.stop_requested()) {
    const auto started = deps_.clock.now();
    {
      std::lock_guard lock(health_mutex_);
      health_.poll_started = started;
    }
    try {
      auto snapshot = std::make_shared<const Snapshot>(poll_once());
      store_.publish(snapshot);
      if (deps_.on_poll) deps_.on_poll(*snapshot);
    } catch (const std::exception& e) {
      // A bug or an unusable config; the thread ends and /healthz says why.
      spdlog::error("sidecar: poller stopped: {}", e.what());
      std::lock_guard lock(health_mutex_);
      health_.running = false;
      health_.stopped_reason = e.what();
      health_.poll_started.reset();
      return;
    }
    {
      std::lock_guard lock(health_mutex_);
      health_.poll_started.reset();
    }
    const auto spent =
        std::chrono::duration_cast<std::chrono::milliseconds>(deps_.clock.now() - started);
    if (spent < interval_ && !deps_.clock.sleep_for(interval_ - spent)) break;
  }
}

PollerHealth Poller::health() const {
  std::lock_guard lock(health_mutex_);
  return health_;
}

}  // namespace replagent::probes
