// `replagent init` with a configuration it must reject before touching anything: exit 2
// (usage/config error) and a message naming the offending setting.
#include "test/support/cluster.hpp"

namespace replagent::test {
namespace {

class InitConfig : public ClusterTest {};

TEST_F(InitConfig, UnknownEnvironmentKeyIsAUsageError) {
  Pod& p = pod(0);
  InitResult r = p.run_init({{"REPLAGENT_INIT_NO_SUCH", "1"}}, std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  // Named as the user wrote it (the variable) or as the setting (init.no_such).
  EXPECT_TRUE(contains_ci(r.err, "no_such")) << describe(r);
  EXPECT_FALSE(std::filesystem::exists(p.pgdata()));
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
