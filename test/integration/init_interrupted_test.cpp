// A clone interrupted halfway (the primary dies, the kubelet stops the init container) must
// leave nothing PostgreSQL would start from, no child process behind, and must not stop the
// next init from succeeding.
#include <signal.h>

#include "test/support/cluster.hpp"

namespace replagent::test {
namespace {

class InitInterrupted : public ClusterTest {
 protected:
  // A primary with ~130 MB of data, so a clone rate-limited to 20 MB/s takes several seconds
  // and a test can act while it runs.
  void bring_up_big_primary(Pod& primary) {
    ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
    RunResult r = primary.pg_tool("pgbench",
                                  {"-i", "-s", "8", "-q", "-h", primary.socket_dir().string(), "-p",
                                   std::to_string(primary.port()), "-U", "postgres", "postgres"},
                                  {}, std::chrono::seconds(300));
    ASSERT_EQ(r.exit_code(), 0) << r.err;
  }

  // Starts the replica's init with a slow clone and returns once pg_basebackup has written
  // some data into the replica's volume.
  std::unique_ptr<InitRun> start_slow_clone(Pod& replica) {
    auto run = replica.start_init({{"REPLAGENT_INIT_MAX_RATE", "20MB"}});
    const bool cloning = wait_until(
        [&] {
          if (!run->process().running()) return true;  // reported below
          return !pg_basebackups(replica).empty() && tree_size(replica.volume()) > (10u << 20);
        },
        std::chrono::seconds(60), std::chrono::milliseconds(50));
    EXPECT_TRUE(cloning) << "pg_basebackup did not start copying within 60 s";
    EXPECT_TRUE(run->process().running())
        << "init ended before the test could interrupt the clone: "
        << describe(run->wait(std::chrono::seconds(1)));
    return run;
  }

  static std::vector<ProcInfo> pg_basebackups(Pod& replica) {
    std::vector<ProcInfo> out;
    for (auto& p : processes_mentioning(replica.volume().string())) {
      if (p.comm == "pg_basebackup") out.push_back(p);
    }
    return out;
  }

  // The next init, without a rate limit, clones and the replica streams.
  void expect_next_init_succeeds(Pod& replica, Pod& primary) {
    InitResult again = replica.run_init({}, std::chrono::seconds(120));
    ASSERT_EQ(again.exit_code, 0) << "init after the interrupted clone: " << describe(again);
    ASSERT_TRUE(replica.has_pg_version());
    replica.start_postgres();
    EXPECT_TRUE(
        wait_until([&] { return streaming(primary, replica.name()); }, std::chrono::seconds(30)));
    EXPECT_EQ(replica.psql("SELECT count(*) FROM pgbench_branches"), "8");
  }
};

TEST_F(InitInterrupted, PrimaryKilledMidCloneLeavesNoDataDirectory) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_big_primary(primary));
  Pod& replica = pod(1);
  auto run = start_slow_clone(replica);
  ASSERT_FALSE(HasFailure());

  primary.kill_postgres();
  InitResult r = run->wait(std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 4) << describe(r);
  EXPECT_FALSE(replica.has_pg_version()) << "a half clone sits where PostgreSQL would start it";
  EXPECT_TRUE(pg_basebackups(replica).empty()) << describe(pg_basebackups(replica));

  primary.start_postgres();
  expect_next_init_succeeds(replica, primary);
}

TEST_F(InitInterrupted, SigtermMidCloneStopsTheChildAndCleansUp) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_big_primary(primary));
  Pod& replica = pod(1);
  auto run = start_slow_clone(replica);
  ASSERT_FALSE(HasFailure());

  // What the kubelet does when the pod is deleted during init.
  const auto sent = std::chrono::steady_clock::now();
  run->process().signal(SIGTERM);
  InitResult r = run->wait(std::chrono::seconds(30));
  const auto took = std::chrono::steady_clock::now() - sent;
  EXPECT_FALSE(r.timed_out) << describe(r);
  EXPECT_NE(r.exit_code, 0) << describe(r);
  // Prompt: well within a pod's default 30 s termination grace period.
  EXPECT_LT(took, std::chrono::seconds(10)) << describe(r);

  // Nothing the init started survives it: not in its group, not re-parented to us, not
  // anywhere using the replica's volume.
  EXPECT_TRUE(processes_in_group(run->pid()).empty()) << describe(processes_in_group(run->pid()));
  EXPECT_TRUE(adopted_orphans().empty()) << describe(adopted_orphans());
  EXPECT_TRUE(processes_mentioning(replica.volume().string()).empty())
      << describe(processes_mentioning(replica.volume().string()));
  EXPECT_FALSE(replica.has_pg_version());

  expect_next_init_succeeds(replica, primary);
}

}  // namespace
}  // namespace replagent::test
