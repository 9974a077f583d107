// postgres.parameters and postgres.hba_extra on real servers: a parameter from the config is in
// effect on the primary and on a replica (SHOW), an extra pg_hba line admits the role it names,
// and a replica configured with lower settings than a hot standby needs (max_connections, ...)
// still starts and streams, because its init keeps the primary's values from its control file:
// what makes lowering them safe in a rolling update, which restarts the replicas first.
#include "test/support/cluster.hpp"

namespace replagent::test {
namespace {

class Parameters : public ClusterTest {};

const char* kParameters = "REPLAGENT_POSTGRES_PARAMETERS";

TEST_F(Parameters, AParameterFromTheConfigIsInEffectOnThePrimaryAndAReplica) {
  const Env env = {
      {kParameters,
       R"({ work_mem = "7MB", jit = false, "auto_explain.log_min_duration" = "2s" })"}};
  Pod& primary = pod(0);
  InitResult r = primary.run_init(env);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  primary.start_postgres();
  primary.publish_dns();
  EXPECT_EQ(primary.psql("SHOW work_mem"), "7MB");
  EXPECT_EQ(primary.psql("SHOW jit"), "off");
  EXPECT_EQ(primary.psql("SELECT pg_catalog.current_setting('auto_explain.log_min_duration')"),
            "2s");

  Pod& replica = pod(1);
  r = replica.run_init(env);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  replica.start_postgres();
  ASSERT_TRUE(
      wait_until([&] { return streaming(primary, replica.name()); }, std::chrono::seconds(30)))
      << replica.failure_report();
  EXPECT_EQ(replica.psql("SHOW work_mem"), "7MB");
  EXPECT_EQ(replica.psql("SHOW jit"), "off");

  // A parameter replagent writes itself is refused before anything is touched.
  replica.stop_postgres();
  r = replica.run_init({{kParameters, "{ port = 5433 }"}});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(describe(r).find("postgres.parameters.port"), std::string::npos) << describe(r);
}

TEST_F(Parameters, AnExtraHbaLineAdmitsTheRoleItNames) {
  Pod& primary = pod(0);
  InitResult r = primary.run_init(
      {{"REPLAGENT_POSTGRES_HBA_EXTRA", R"(["host all \"tester\" 127.0.0.0/8 trust"])"}});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  primary.start_postgres();
  primary.psql("CREATE ROLE tester LOGIN; CREATE ROLE other LOGIN");
  auto as = [&](const std::string& user) {
    return primary.psql_result("SELECT current_user",
                               "host=" + primary.ip() + " port=" + std::to_string(primary.port()) +
                                   " dbname=postgres user=" + user,
                               {{"PGPASSWORD", "not-a-password"}});
  };
  const RunResult tester = as("tester");
  EXPECT_EQ(tester.exit_code(), 0) << tester.err;
  EXPECT_EQ(tester.out, "tester\n");
  // Every other role still meets replagent's catch-all (scram-sha-256): no password, no entry.
  const RunResult other = as("other");
  EXPECT_NE(other.exit_code(), 0) << other.out;
  EXPECT_NE(other.err.find("password authentication failed"), std::string::npos) << other.err;
  // And replagent's own roles keep their lines: the superuser never over TCP.
  const RunResult superuser = as("postgres");
  EXPECT_NE(superuser.exit_code(), 0) << superuser.out;
}

TEST_F(Parameters, AReplicaConfiguredLowerThanItsPrimaryStartsAndStreams) {
  Pod& primary = pod(0);
  InitResult r =
      primary.run_init({{kParameters,
                         "{ max_connections = 150, max_worker_processes = 12, "
                         "max_prepared_transactions = 5, max_locks_per_transaction = 128 }"}});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  primary.start_postgres();
  primary.publish_dns();
  EXPECT_EQ(primary.psql("SHOW max_connections"), "150");

  // The chart's lowered values reach the replicas first (the primary restarts last).
  Pod& replica = pod(1);
  const Env lower = {{kParameters,
                      "{ max_connections = 90, max_worker_processes = 8, "
                      "max_prepared_transactions = 0, max_locks_per_transaction = 64 }"}};
  r = replica.run_init(lower);  // a clone: its control file holds the primary's values
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  replica.start_postgres();
  ASSERT_TRUE(
      wait_until([&] { return streaming(primary, replica.name()); }, std::chrono::seconds(30)))
      << replica.failure_report();
  auto expect_primarys = [&](Pod& p) {
    EXPECT_EQ(p.psql("SHOW max_connections"), "150");
    EXPECT_EQ(p.psql("SHOW max_worker_processes"), "12");
    EXPECT_EQ(p.psql("SHOW max_prepared_transactions"), "5");
    EXPECT_EQ(p.psql("SHOW max_locks_per_transaction"), "128");
  };
  expect_primarys(replica);

  // A restart with its data (the rolling update's case), lower values or none set at all
  // (postgresql.conf's, initdb's 100 connections, would be too few): the primary's again.
  for (const Env& env : {lower, Env{}}) {
    replica.stop_postgres();
    r = replica.run_init(env);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    replica.start_postgres();
    ASSERT_TRUE(
        wait_until([&] { return streaming(primary, replica.name()); }, std::chrono::seconds(30)))
        << replica.failure_report();
    expect_primarys(replica);
  }
}

}  // namespace
}  // namespace replagent::test
