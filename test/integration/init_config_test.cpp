// `replagent init` with a configuration it must reject before touching anything: exit 2
// (usage/config error) and a message naming the offending setting; and what it must not
// reject (the kubelet's service-link variables).
#include "test/support/cluster.hpp"

namespace replagent::test {
namespace {

class InitConfig : public ClusterTest {};

// The kubelet injects <SERVICE>_PORT* / _SERVICE_HOST variables for every Service in the
// namespace; for a release named replagent-postgres they read like settings
// (REPLAGENT_POSTGRES_RW_PORT). They are warned about, naming the closest key, and init goes
// on: before, every init and probe of such a release exited 2.
TEST_F(InitConfig, UnknownEnvironmentKeyIsAWarningNotAnError) {
  Pod& p = pod(0);
  InitResult r = p.run_init({{"REPLAGENT_POSTGRES_RW_PORT", "tcp://10.96.0.12:5432"},
                             {"REPLAGENT_POSTGRES_RW_PORT_5432_TCP_ADDR", "10.96.0.12"},
                             {"REPLAGENT_INIT_NO_SUCH", "1"}},
                            std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains_ci(r.err, "REPLAGENT_POSTGRES_RW_PORT is not a setting and is ignored"))
      << describe(r);
  EXPECT_TRUE(contains_ci(r.err, "REPLAGENT_INIT_NO_SUCH is not a setting")) << describe(r);
  EXPECT_TRUE(std::filesystem::exists(p.pgdata() / "PG_VERSION"));
}

TEST_F(InitConfig, UnknownKeyInAFlagIsAUsageError) {
  Pod& p = pod(0);
  SpawnOptions opts;
  opts.argv = {REPLAGENT_BINARY, "--set", "init.no_such=1", "config"};
  opts.env = p.init_env();
  RunResult bad = run_process(opts, std::chrono::seconds(10));
  EXPECT_EQ(bad.exit_code(), 2) << bad.err;
  EXPECT_TRUE(contains_ci(bad.err, "init.no_such")) << bad.err;
}

TEST_F(InitConfig, PodNameWithoutOrdinalIsAUsageError) {
  Pod& p = pod(0);
  InitResult r = p.run_init({{"POD_NAME", "db"}}, std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_TRUE(contains_ci(r.err, "ordinal") || contains_ci(r.err, "pod_name") ||
              contains_ci(r.err, "pod.name"))
      << describe(r);
  EXPECT_FALSE(std::filesystem::exists(p.pgdata()));
}

}  // namespace
}  // namespace replagent::test
