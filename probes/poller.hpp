#pragma once

// The sidecar's only PostgreSQL client. One thread polls every sidecar.poll_interval and
// publishes an immutable Snapshot; the HTTP side never waits on a query.
//
// Bounds: statement_timeout (a server option) on the local session, and a client-side
// deadline (ConnParams::io_timeout, io_deadline()) on every connection attempt and query, so
// a stopped server that never answers makes a poll fail (reason "timeout"), not hang. A local
// connection failure backs off (capped exponential) instead of retrying every poll, and a snapshot
// is published either way, saying why the server is not up, so "not up" (503 on /readyz) is never
// confused with "poller stuck" (stale).
//
// It talks to the local server only. A replica's lag comes from its own WAL receiver
// (snapshot.hpp, primary_view()), so a set of N replicas costs the primary no connection, fork
// or max_wal_senders slot for monitoring; the primary's own poll is one query round whatever N.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "agent/backoff.hpp"
#include "agent/clock.hpp"
#include "agent/config.hpp"
#include "agent/pg.hpp"
#include "agent/signals.hpp"
#include "probes/routes.hpp"
#include "probes/slot_janitor.hpp"
#include "probes/snapshot.hpp"

namespace replagent::probes {

// Effects the poller uses; the real ones in sidecar.cpp, fakes in unit tests.
struct PollerDeps {
  agent::PgClient& pg;
  agent::Clock& clock;  // now() times polls, wall_now() stamps snapshots; sleeps wake on stop
  std::function<std::optional<FilesystemStats>(const std::string& path, std::string* why)>
      filesystem;
  // Called on the poller thread after each poll is published (metrics histogram).
  std::function<void(const Snapshot&)> on_poll;
  // On the primary, reviews each poll's slots (drops those of pods gone for good); optional.
  SlotJanitor* janitor = nullptr;
  // run() returns once a stop is requested (SIGTERM), as it does after stop().
  agent::StopToken stop;
};

// Where the poller connects (the local server only). Built from the config by poller_targets().
struct PollerTargets {
  agent::ConnParams local;
  std::string data_dir;
};
PollerTargets poller_targets(const agent::Config& config);

// The client-side deadline for connecting and for each query at this poll interval.
std::chrono::milliseconds io_deadline(std::chrono::milliseconds interval);

class Poller {
 public:
  Poller(const agent::Config& config, PollerTargets targets, PollerDeps deps, SnapshotStore& store);

  // One poll: query the local server, return what was seen.
  Snapshot poll_once();
  // Polls and publishes until a stop is requested (SIGTERM) or stop() is called.
  void run();
  void stop() { stop_.store(true); }

  PollerHealth health() const;

 private:
  void poll_local(Snapshot& s);
  void secondary_query_failed(const char* what, const agent::PgError& e);
  void fail(const std::string& reason);

  std::chrono::milliseconds interval_;
  PollerTargets targets_;
  PollerDeps deps_;
  SnapshotStore& store_;
  std::atomic<bool> stop_{false};

  std::unique_ptr<agent::PgSession> session_;
  agent::Backoff local_backoff_;
  agent::Clock::time_point next_local_attempt_{};
  std::string local_error_;  // last connect error while backing off
  bool was_up_ = false;

  std::uint64_t sequence_ = 0;
  std::map<std::string, std::uint64_t> errors_;
  std::optional<std::chrono::steady_clock::time_point> last_streaming_at_;

  mutable std::mutex health_mutex_;
  PollerHealth health_;
};

// statvfs() of the data directory's filesystem.
std::optional<FilesystemStats> statvfs_stats(const std::string& path, std::string* why);

}  // namespace replagent::probes
