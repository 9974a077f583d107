// `replagent init` when it cannot or must not proceed: each failure has its exit code
// (DESIGN.md) and a message that names what was being done and with what.
#include "test/support/cluster.hpp"

namespace replagent::test {
namespace {

class InitFailure : public ClusterTest {};

TEST_F(InitFailure, PrimaryNeverResolvesTimesOut) {
  Pod& replica = pod(1);
  InitResult r =
      replica.run_init({{"REPLAGENT_INIT_WAIT_TIMEOUT", "3s"}}, std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 3) << describe(r);
  // The overall timeout bounds the wait: 3 s, plus one DNS timeout and start-up as margin.
  EXPECT_LT(r.elapsed, std::chrono::seconds(3 + 7)) << describe(r);
  EXPECT_NE(r.err.find("todo-db-0.todo-db.default.svc.cluster.local"), std::string::npos)
      << describe(r);
  EXPECT_FALSE(replica.has_pg_version());
  EXPECT_FALSE(read_file(replica.termination_log()).empty());
}

TEST_F(InitFailure, WrongReplicationPasswordFailsTheClone) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  Pod& replica = pod(1);
  const std::string wrong = write_secret("wrong-replication-password", "not-the-password");
  InitResult r = replica.run_init({{"REPLAGENT_POSTGRES_REPLICATION_PASSWORD_FILE", wrong},
                                   {"REPLAGENT_INIT_WAIT_TIMEOUT", "20s"}},
                                  std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 4) << describe(r);
  EXPECT_NE(r.err.find("replicator"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find(primary.dns_name()), std::string::npos) << describe(r);
  EXPECT_FALSE(replica.has_pg_version());
}

TEST_F(InitFailure, ForeignClusterDataIsRefusedAndUntouched) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));

  // Another cluster's data in the replica's volume, made to look like a replica.
  Pod& replica = pod(1);
  replica.initdb_by_hand();
  write_file(replica.pgdata() / "standby.signal", "");
  const std::string before = tree_listing(replica.volume());

  InitResult r = replica.run_init({}, std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 5) << describe(r);
  EXPECT_EQ(tree_listing(replica.volume()), before) << "init touched the foreign data";
  // The message says how to allow a re-clone.
  EXPECT_TRUE(contains_ci(r.err, "on_foreign_data")) << describe(r);
}

}  // namespace
}  // namespace replagent::test
