// `replagent init` on the primary's pod (ordinal 0): initdb with checksums, the replication
// settings and role, and nothing but a settings refresh on a volume that already holds data.
#include "test/support/cluster.hpp"

namespace replagent::test {
namespace {

class InitPrimary : public ClusterTest {};

TEST_F(InitPrimary, EmptyVolumeGetsChecksummedClusterAndReplicationRole) {
  Pod& primary = pod(0);
  InitResult r = primary.run_init();
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  ASSERT_TRUE(primary.has_pg_version());
  EXPECT_FALSE(read_file(primary.termination_log()).empty())
      << "init writes a one-line outcome to the termination log";

  // Checksums catch storage corruption on replicas too: they are copied by pg_basebackup.
  RunResult control = primary.pg_tool("pg_controldata", {"-D", primary.pgdata().string()});
  ASSERT_EQ(control.exit_code(), 0) << control.err;
  EXPECT_NE(control.out.find("Data page checksum version:           1"), std::string::npos)
      << control.out;

  // The replication settings live in an include file the agent owns.
  EXPECT_TRUE(std::filesystem::exists(primary.pgdata() / "replagent.conf"));
  EXPECT_NE(read_file(primary.pgdata() / "postgresql.conf").find("replagent.conf"),
            std::string::npos);

  primary.start_postgres();
  EXPECT_EQ(primary.psql("SHOW wal_level"), "replica");
  EXPECT_EQ(primary.psql("SHOW data_checksums"), "on");
  EXPECT_EQ(primary.psql("SELECT rolreplication FROM pg_roles WHERE rolname = 'replicator'"), "t");

  // What a replica does first: a replication connection over TCP as `replicator`.
  const std::string conninfo = "host=" + primary.ip() + " port=" + std::to_string(primary.port()) +
                               " user=replicator replication=true dbname=postgres";
  RunResult ident = primary.psql_result("IDENTIFY_SYSTEM", conninfo,
                                        {{"PGPASSWORD", set_config().replication_password}});
  EXPECT_EQ(ident.exit_code(), 0) << ident.err;
  EXPECT_NE(ident.out.find('|'), std::string::npos) << ident.out;

  // ... and only with the password: pg_hba must not trust the network.
  RunResult wrong =
      primary.psql_result("IDENTIFY_SYSTEM", conninfo, {{"PGPASSWORD", "not-the-password"}});
  EXPECT_NE(wrong.exit_code(), 0);
  EXPECT_NE(wrong.err.find("password authentication failed"), std::string::npos) << wrong.err;
}

TEST_F(InitPrimary, ExistingDataIsKeptAndOnlyRefreshed) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  primary.psql("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before restart')");
  primary.stop_postgres();
  const auto inode = inode_of(primary.pgdata());
  const std::string version = read_file(primary.pgdata() / "PG_VERSION");

  // A pod restart runs init again on the same volume.
  InitResult r = primary.run_init();
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  RecordProperty("rerun_elapsed_ms", std::to_string(r.elapsed.count()));
  EXPECT_EQ(inode_of(primary.pgdata()), inode);
  EXPECT_EQ(read_file(primary.pgdata() / "PG_VERSION"), version);

  primary.start_postgres();
  EXPECT_EQ(primary.psql("SELECT v FROM kept"), "before restart");
}

}  // namespace
}  // namespace replagent::test
