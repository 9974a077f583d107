// A frozen local PostgreSQL (every process of the server SIGSTOPped, as a hung host or a
// debugger would leave it): the kernel still accepts connections and ACKs data, so neither
// TCP keepalives nor connect_timeout notice, and a query in progress would wait forever. The
// sidecar's poller gives up at its deadline and says so: readiness 503 with the reason,
// liveness 200 (restarting the agent would not help the server), the probe fails at once;
// once the server runs again everything recovers. A replica's sidecar never waits on the frozen
// primary (it asks only its own server) and, once its WAL receiver has heard nothing for longer
// than a live sender stays silent, says its lag is unknown: /replica 503, /readyz 200 within
// sidecar.disconnected_grace.
#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

#include "test/support/sidecar.hpp"

namespace replagent::test {
namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The postmaster and its children, stopped with SIGSTOP and always continued with SIGCONT
// (also when the test fails half-way: a stopped server would hang the teardown). PostgreSQL
// puts every backend in a session of its own (setsid in InitPostmasterChild), so the
// postmaster's process group alone is not the whole server: its children are found by ppid.
class FrozenServer {
 public:
  explicit FrozenServer(const Pod& pod) {
    std::ifstream in(pod.pgdata() / "postmaster.pid");
    in >> postmaster_;
    if (postmaster_ <= 0) throw std::runtime_error("no postmaster.pid in " + pod.pgdata().string());
    // The postmaster first, so it forks nothing new while its children are being stopped.
    stop(postmaster_);
    for (const auto& p : list_processes()) {
      if (p.ppid == postmaster_) stop(p.pid);
    }
  }
  ~FrozenServer() { resume(); }
  FrozenServer(const FrozenServer&) = delete;
  FrozenServer& operator=(const FrozenServer&) = delete;

  std::size_t processes() const { return stopped_.size(); }

  void resume() {
    for (pid_t pid : stopped_) ::kill(pid, SIGCONT);
    stopped_.clear();
  }

 private:
  void stop(pid_t pid) {
    if (::kill(pid, SIGSTOP) == 0) stopped_.insert(pid);
  }

  pid_t postmaster_ = 0;
  std::set<pid_t> stopped_;
};

class SidecarFrozen : public SidecarTest {};

TEST_F(SidecarFrozen, StoppedServerIsNotReadyWithReasonButLiveAndRecovers) {
  ASSERT_NO_FATAL_FAILURE(bring_up_with_sidecars(1));
  Sidecar& primary = sidecar(0);
  Sidecar& replica = sidecar(1);
  ASSERT_EQ(primary.probe("ready").exit_code(), 0);
  // A live sender answers the replica's ping after wal_receiver_timeout/2 of silence: 10 s
  // here, so the replica's view goes stale 12 s after its last message and its receiver gives
  // up after 20 s. A write just before the freeze makes that last message "now".
  pod(1).psql("ALTER SYSTEM SET wal_receiver_timeout = '20s'");
  pod(1).psql("SELECT pg_reload_conf()");
  ASSERT_TRUE(wait_until([&] { return pod(1).psql("SHOW wal_receiver_timeout") == "20s"; }, 10s));
  pod(0).psql("CREATE TABLE before_the_freeze (n int)");
  ASSERT_TRUE(wait_until(
      [&] {
        return pod(1).psql("SELECT count(*) FROM pg_class WHERE relname = 'before_the_freeze'") ==
               "1";
      },
      10s));
  // Usually 0; a loaded machine (a sanitizer build beside other jobs) can time out a poll
  // before the freeze too, so what counts is that the freeze adds timeouts.
  const double timeouts_before =
      primary.metric("replagent_poll_errors_total", {{"reason", "timeout"}}).value_or(-1);
  ASSERT_GE(timeouts_before, 0.0) << "the series exists before any timeout";

  std::optional<FrozenServer> frozen(std::in_place, pod(0));
  const auto frozen_at = Clock::now();
  std::cout << "froze " << frozen->processes() << " processes of " << pod(0).name() << "\n";

  // Readiness turns 503 and says the server did not answer, within a few poll intervals
  // (the deadline at a 500 ms interval is 750 ms); liveness stays 200 all along.
  HttpReply ready;
  std::vector<std::string> liveness_failures;
  const bool not_ready = wait_until(
      [&] {
        HttpReply health = primary.get("/healthz", 2s);
        if (health.status != 200) {
          liveness_failures.push_back(std::to_string(health.status) + " " + health.error +
                                      health.body);
        }
        ready = primary.get("/readyz", 2s);
        // The body gives the error's category; the full text stays in the snapshot and logs.
        return ready.status == 503 && ready.body.find(": timeout") != std::string::npos;
      },
      20s, 100ms);
  const double to_503 = seconds_since(frozen_at);
  ASSERT_TRUE(not_ready) << "last /readyz: " << ready.status << " " << ready.error << ready.body
                         << "\n"
                         << primary.log_tail();
  std::cout << "/readyz 503 " << to_503 << " s after the freeze: " << ready.body;
  RecordProperty("seconds_to_503", std::to_string(to_503));
  EXPECT_EQ(ready.headers.count("x-replagent-stale"), 0u) << "a fresh snapshot says why";

  // The probe (kubelet's readiness exec) fails at once from the sidecar's answer.
  RunResult probe = primary.probe("ready");
  EXPECT_FALSE(probe.timed_out);
  EXPECT_EQ(probe.exit_code(), 1) << probe.out << probe.err;
  EXPECT_NE(probe.out.find(": timeout"), std::string::npos) << probe.out;
  EXPECT_LT(probe.elapsed, 5s) << "the probe's own budget is 1 s";
  std::cout << "probe ready: exit " << probe.exit_code() << " in " << probe.elapsed.count()
            << " ms: " << probe.out;
  RecordProperty("probe_ready_ms", static_cast<int>(probe.elapsed.count()));

  // Several polls later the agent is still live and still says why the server is not ready,
  // with fresh snapshots (polls end at their deadline instead of hanging), counted as timeouts.
  const auto watch_until = Clock::now() + 6 * kSidecarPollInterval;
  while (Clock::now() < watch_until) {
    HttpReply health = primary.get("/healthz", 2s);
    if (health.status != 200) {
      liveness_failures.push_back(std::to_string(health.status) + " " + health.error + health.body);
    }
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(liveness_failures.empty()) << liveness_failures.front();
  RunResult live = primary.probe("live");
  EXPECT_EQ(live.exit_code(), 0) << live.out << live.err;
  HttpReply status = primary.get("/status");
  EXPECT_NE(status.body.find("\"stale\":false"), std::string::npos) << status.body;
  EXPECT_GE(primary.metric("replagent_poll_errors_total", {{"reason", "timeout"}}).value_or(0),
            timeouts_before + 1.0);
  EXPECT_EQ(primary.metric("pg_up"), 0.0);

  // The replica's sidecar never asked the primary anything: fresh snapshots all along, no
  // timeout. Its WAL receiver still says "streaming", but once it has heard nothing for
  // wal_receiver_timeout/2 + 2 s the primary may have written what the replica never saw: the
  // lag is unknown. /replica says no; /readyz stays 200 for sidecar.disconnected_grace.
  HttpReply replica_status, replica_route, replica_ready;
  EXPECT_TRUE(wait_until(
      [&] {
        replica_status = replica.get("/status", 2s);
        return replica_status.body.find("\"primary_error\":\"primary silent\"") !=
                   std::string::npos &&
               replica_status.body.find("\"wal_receiver_status\":\"streaming\"") !=
                   std::string::npos &&
               replica_status.body.find("\"stale\":false") != std::string::npos;
      },
      25s, 100ms))
      << replica_status.status << " " << replica_status.error << replica_status.body;
  std::cout << "replica /status while the primary is frozen: " << replica_status.body;
  replica_route = replica.get("/replica?lag=1GB", 2s);
  EXPECT_EQ(replica_route.status, 503) << replica_route.body;
  EXPECT_NE(replica_route.body.find("lag unknown"), std::string::npos) << replica_route.body;
  replica_ready = replica.get("/readyz", 2s);
  EXPECT_EQ(replica_ready.status, 200) << replica_ready.body;
  EXPECT_NE(replica_ready.body.find("still ready for sidecar.disconnected_grace"),
            std::string::npos)
      << replica_ready.body;
  EXPECT_FALSE(replica.metric("replagent_replica_lag_bytes", {{"stage", "replay"}}).has_value());
  EXPECT_EQ(replica.get("/healthz").status, 200);

  // The server runs again: the poller reconnects (its backoff is capped at 5 s).
  frozen->resume();
  const auto resumed_at = Clock::now();
  EXPECT_TRUE(primary.wait_status("/readyz", 200, 30s)) << primary.get("/readyz").body << "\n"
                                                        << primary.log_tail();
  const double to_200 = seconds_since(resumed_at);
  std::cout << "/readyz 200 again " << to_200 << " s after SIGCONT\n";
  RecordProperty("seconds_to_recover", std::to_string(to_200));
  EXPECT_EQ(primary.probe("ready").exit_code(), 0);
  EXPECT_EQ(primary.get("/primary").status, 200);
  EXPECT_TRUE(wait_until(
      [&] {
        replica_status = replica.get("/status", 2s);
        return replica_status.status == 200 &&
               replica_status.body.find("\"primary_error\"") == std::string::npos;
      },
      30s, 200ms))
      << replica_status.body;
  EXPECT_TRUE(replica.wait_status("/replica?lag=1MB", 200, 10s)) << replica.get("/replica").body;
  // The server itself is fine: it answers queries.
  EXPECT_EQ(pod(0).psql("SELECT 1"), "1");
}

}  // namespace
}  // namespace replagent::test
