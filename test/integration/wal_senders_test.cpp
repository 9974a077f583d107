// A replica's max_wal_senders never falls below its primary's, on real servers: a hot standby
// with fewer refuses to start ("recovery aborted because of insufficient parameter settings"),
// and the chart's lower value (a smaller maxReplicas) reaches the replicas before the primary,
// which a rolling update restarts last. init reads the primary's value from the replica's
// control file (pg_controldata) and keeps the larger.
#include "test/support/cluster.hpp"

namespace replagent::test {
namespace {

class WalSenders : public ClusterTest {};

TEST_F(WalSenders, AReplicaConfiguredWithFewerThanItsPrimaryKeepsThePrimarysAndStreams) {
  Pod& primary = pod(0);
  InitResult r = primary.run_init({{"REPLAGENT_POSTGRES_MAX_WAL_SENDERS", "20"},
                                   {"REPLAGENT_POSTGRES_MAX_REPLICATION_SLOTS", "12"}});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  primary.start_postgres();
  primary.publish_dns();
  EXPECT_EQ(primary.psql("SHOW max_wal_senders"), "20");
  EXPECT_EQ(primary.psql("SHOW max_replication_slots"), "12");

  Pod& replica = pod(1);
  const Env fewer = {{"REPLAGENT_POSTGRES_MAX_WAL_SENDERS", "12"}};
  r = replica.run_init(fewer);  // a clone: the control file holds the primary's 20
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  replica.start_postgres();
  ASSERT_TRUE(
      wait_until([&] { return streaming(primary, replica.name()); }, std::chrono::seconds(30)))
      << replica.failure_report();
  EXPECT_EQ(replica.psql("SHOW max_wal_senders"), "20");

  // A restart of the replica with its data (the rolling update's case) keeps it as well.
  replica.stop_postgres();
  r = replica.run_init(fewer);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  replica.start_postgres();
  EXPECT_EQ(replica.psql("SHOW max_wal_senders"), "20");
}

}  // namespace
}  // namespace replagent::test
