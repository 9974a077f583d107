// `replagent init` on replica pods: clone from the primary found through the cluster DNS,
// stream through a slot named after the pod, and keep valid data on the next start.
#include <iostream>
#include <thread>

#include "test/support/cluster.hpp"

namespace replagent::test {
namespace {

class InitReplica : public ClusterTest {};

TEST_F(InitReplica, TwoReplicasCloneAndStream) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  Pod& r1 = pod(1);
  Pod& r2 = pod(2);
  ASSERT_NO_FATAL_FAILURE(bring_up_replica(r1, primary));
  ASSERT_NO_FATAL_FAILURE(bring_up_replica(r2, primary));

  for (Pod* r : {&r1, &r2}) {
    EXPECT_TRUE(std::filesystem::exists(r->pgdata() / "standby.signal")) << r->name();
    // The primary tells its replicas apart (pg_stat_replication, synchronous_standby_names)
    // by application_name. Quotes dropped: libpq may quote values or not.
    std::string conninfo = r->psql("SHOW primary_conninfo");
    std::erase(conninfo, '\'');
    EXPECT_NE(conninfo.find("application_name=" + r->name()), std::string::npos) << conninfo;
    EXPECT_EQ(r->psql("SELECT pg_is_in_recovery()"), "t");
    // The clone's staging directory (a dot-prefixed sibling of PGDATA) is gone once the
    // clone is in place.
    for (const auto& entry : std::filesystem::directory_iterator(r->volume())) {
      EXPECT_EQ(entry.path().filename(), "pgdata") << "left in the volume: " << entry.path();
    }
  }

  primary.psql("CREATE TABLE todo (item text); INSERT INTO todo VALUES ('write tests')");
  for (Pod* r : {&r1, &r2}) {
    EXPECT_TRUE(wait_until(
        [&] {
          RunResult q = r->psql_result("SELECT item FROM todo");
          return q.exit_code() == 0 && q.out == "write tests\n";
        },
        std::chrono::seconds(20)))
        << r->name() << " did not replay the primary's write";
  }

  EXPECT_EQ(primary.psql("SELECT string_agg(application_name, ',' ORDER BY application_name) "
                         "FROM pg_stat_replication WHERE state = 'streaming'"),
            "todo-db-1,todo-db-2");
  EXPECT_EQ(primary.psql("SELECT string_agg(slot_name || ':' || active, ',' ORDER BY slot_name) "
                         "FROM pg_replication_slots"),
            "todo_db_1:true,todo_db_2:true");
}

TEST_F(InitReplica, RerunWithValidDataDoesNotClone) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  Pod& replica = pod(1);
  ASSERT_NO_FATAL_FAILURE(bring_up_replica(replica, primary));
  replica.stop_postgres();

  const auto inode = inode_of(replica.pgdata());
  const std::string slot_query =
      "SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'todo_db_1'";
  const std::string restart_lsn = primary.psql(slot_query);
  ASSERT_FALSE(restart_lsn.empty());
  // New WAL while the replica is down: a slot dropped and created again would now start at a
  // later position, so an unchanged restart_lsn shows the slot was kept.
  primary.psql("CREATE TABLE later (v int); INSERT INTO later VALUES (1)");
  primary.psql("SELECT pg_switch_wal()");

  InitResult r = replica.run_init();
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  RecordProperty("rerun_elapsed_ms", std::to_string(r.elapsed.count()));
  std::cout << "replica init re-run took " << r.elapsed.count() << " ms\n";
  EXPECT_EQ(inode_of(replica.pgdata()), inode) << "the data directory was replaced (cloned)";
  EXPECT_EQ(primary.psql(slot_query), restart_lsn);

  // The kept data directory still replicates.
  replica.start_postgres();
  EXPECT_TRUE(
      wait_until([&] { return streaming(primary, replica.name()); }, std::chrono::seconds(30)));
  EXPECT_TRUE(wait_until([&] { return replica.psql_result("SELECT v FROM later").out == "1\n"; },
                         std::chrono::seconds(20)));
}

TEST_F(InitReplica, PrimaryDnsRecordAppearsLate) {
  Pod& primary = pod(0);
  InitResult p = primary.run_init();
  ASSERT_EQ(p.exit_code, 0) << describe(p);
  primary.start_postgres();

  // The replica starts before the headless Service has pod 0's record (NXDOMAIN).
  Pod& replica = pod(1);
  auto run = replica.start_init();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ASSERT_TRUE(run->process().running()) << "init gave up before the record appeared: "
                                        << describe(run->wait(std::chrono::seconds(1)));
  primary.publish_dns();

  InitResult r = run->wait(std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_GE(r.elapsed, std::chrono::seconds(2));
  replica.start_postgres();
  EXPECT_TRUE(
      wait_until([&] { return streaming(primary, replica.name()); }, std::chrono::seconds(30)));
}

}  // namespace
}  // namespace replagent::test
