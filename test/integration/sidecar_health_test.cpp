// Health and readiness against a real server that stops and starts: readiness follows
// PostgreSQL, liveness follows the agent only (a kubelet must not restart a pod because its
// database is down or still starting).
#include <thread>

#include "test/support/sidecar.hpp"

namespace replagent::test {
namespace {
using namespace std::chrono_literals;

class SidecarHealth : public SidecarTest {};

TEST_F(SidecarHealth, LocalServerStoppedIsNotReadyButLive) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  Sidecar& s = start_sidecar(primary);
  ASSERT_NO_FATAL_FAILURE(expect_eventually_200(s, "/readyz"));
  RunResult ready = s.probe("ready");
  EXPECT_EQ(ready.exit_code(), 0) << ready.out << ready.err;

  primary.stop_postgres();
  EXPECT_TRUE(s.wait_status("/readyz", 503, 5s)) << s.get("/readyz").body;
  EXPECT_EQ(s.get("/primary").status, 503);
  HttpReply health = s.get("/healthz");
  EXPECT_EQ(health.status, 200) << health.body;
  EXPECT_EQ(s.metric("pg_up"), 0.0);
  EXPECT_EQ(s.metric("replagent_up"), 0.0);

  ready = s.probe("ready");
  EXPECT_EQ(ready.exit_code(), 1) << ready.out << ready.err;
  EXPECT_NE(ready.out.find("ready"), std::string::npos) << ready.out;
  RunResult live = s.probe("live");
  EXPECT_EQ(live.exit_code(), 0) << live.out << live.err;
  // Still 200 some polls later: liveness does not drift towards PostgreSQL's state.
  std::this_thread::sleep_for(4 * kSidecarPollInterval);
  EXPECT_EQ(s.get("/healthz").status, 200);
  EXPECT_TRUE(s.running());

  // The server comes back: the poller reconnects (backoff capped at 5 s).
  primary.start_postgres();
  EXPECT_TRUE(s.wait_status("/readyz", 200, 15s)) << s.get("/readyz").body;
  EXPECT_EQ(s.probe("ready").exit_code(), 0);
}

TEST_F(SidecarHealth, StartedBeforePostgresBecomesReady) {
  Pod& primary = pod(0);
  InitResult init = primary.run_init();
  ASSERT_EQ(init.exit_code, 0) << describe(init);
  primary.publish_dns();

  // The sidecar container may start before the postgres container's server accepts
  // connections: it must serve (and stay alive), not crash or exit.
  Sidecar& s = start_sidecar(primary);
  std::this_thread::sleep_for(2s);
  ASSERT_TRUE(s.running()) << s.log_tail();
  EXPECT_EQ(s.get("/healthz").status, 200);
  HttpReply readyz = s.get("/readyz");
  EXPECT_EQ(readyz.status, 503) << readyz.body;
  EXPECT_EQ(s.get("/metrics").status, 200);
  EXPECT_EQ(s.metric("pg_up"), 0.0);
  RunResult probe = s.probe("ready");
  EXPECT_EQ(probe.exit_code(), 1) << probe.out << probe.err;

  primary.start_postgres();
  EXPECT_TRUE(s.wait_status("/readyz", 200, 15s)) << s.get("/readyz").body << "\n" << s.log_tail();
  EXPECT_EQ(s.get("/primary").status, 200);
  EXPECT_EQ(s.metric("pg_up"), 1.0);
  probe = s.probe("ready");
  EXPECT_EQ(probe.exit_code(), 0) << probe.out << probe.err;
}

}  // namespace
}  // namespace replagent::test
