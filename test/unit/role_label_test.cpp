// The sidecar's role label (roles/role_label.hpp) and its settings: patched when the role
// changes and not on every poll, retried with backoff after a refusal, off without a key;
// label keys checked as Kubernetes checks them; the API server from KUBERNETES_SERVICE_HOST and
// _PORT as client-go's in-cluster configuration. Against a real HTTPS API server with RBAC:
// the runtime bed (test_install.Install.test_three_ready_pods_stream_and_serve).
#include "roles/role_label.hpp"

#include <gtest/gtest.h>

#include "agent/config.hpp"
#include "agent/errors.hpp"
#include "agent/kube_api.hpp"
#include "test/unit/fakes.hpp"

namespace replagent::roles {
namespace {

using namespace std::chrono_literals;

class RoleLabelTest : public ::testing::Test {
 protected:
  LabelPatcher patcher() {
    return [this](const std::map<std::string, std::string>& labels) {
      patches.push_back(labels);
      agent::KubeAnswer a;
      a.status = answer;
      a.body = answer == 403 ? "pods \"todo-db-1\" is forbidden" : "{}";
      return a;
    };
  }
  std::vector<std::map<std::string, std::string>> patches;
  int answer = 200;
  fakes::FakeClock clock;
};

TEST_F(RoleLabelTest, PatchesWhenTheRoleChangesOnly) {
  RoleLabel label("replagent.io/role", clock, patcher());
  label.review("replica");
  label.review("replica");
  label.review("replica");
  ASSERT_EQ(patches.size(), 1u);
  EXPECT_EQ(patches[0], (std::map<std::string, std::string>{{"replagent.io/role", "replica"}}));
  EXPECT_EQ(label.labelled(), "replica");
  label.review("primary");  // promoted
  ASSERT_EQ(patches.size(), 2u);
  EXPECT_EQ(patches[1].at("replagent.io/role"), "primary");
  EXPECT_EQ(label.patches(), 2u);
}

TEST_F(RoleLabelTest, ARefusalIsRetriedWithBackoffNotEveryPoll) {
  answer = 403;
  RoleLabel label("replagent.io/role", clock, patcher());
  label.review("replica");
  label.review("replica");  // backing off
  EXPECT_EQ(patches.size(), 1u);
  EXPECT_EQ(label.labelled(), "");
  clock.advance(2s);
  label.review("replica");
  EXPECT_EQ(patches.size(), 2u);
  answer = 200;
  clock.advance(3s);  // the second wait is 4 s
  label.review("replica");
  EXPECT_EQ(patches.size(), 2u);
  clock.advance(1s);
  label.review("replica");
  EXPECT_EQ(patches.size(), 3u);
  EXPECT_EQ(label.labelled(), "replica");
}

TEST_F(RoleLabelTest, OffWithoutAKeyOrARole) {
  RoleLabel off("", clock, patcher());
  off.review("primary");
  RoleLabel on("replagent.io/role", clock, patcher());
  on.review("");
  EXPECT_TRUE(patches.empty());
}

TEST(LabelKey, AsKubernetesValidatesThem) {
  for (const char* good : {"role", "replagent.io/role", "a.b-c.example/x_y.z-1", "A1"})
    EXPECT_TRUE(agent::is_label_key(good)) << good;
  for (const char* bad : {"", "/role", "replagent.io/", "-role", "role-", "Replagent.io/role",
                          "a/b/c", "role\"", "x y", "replagent.io/role}",
                          "a1234567890123456789012345678901234567890123456789012345678901234"})
    EXPECT_FALSE(agent::is_label_key(bad)) << bad;
}

TEST(RoleLabelConfig, TheApiServerComesFromTheKubeletsVariables) {
  agent::ConfigInputs in;
  in.default_file = "/nonexistent/replagent.toml";
  in.env = {{"POD_NAME", "todo-db-1"},
            {"REPLAGENT_SIDECAR_ROLE_LABEL", "replagent.io/role"},
            {"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
            {"KUBERNETES_SERVICE_PORT", "6443"}};
  const agent::Config c = agent::load_config(in);
  EXPECT_EQ(c.sidecar.role_label, "replagent.io/role");
  EXPECT_EQ(c.sidecar.kubernetes_host, "10.96.0.1");
  EXPECT_EQ(c.sidecar.kubernetes_port, 6443);
  EXPECT_EQ(c.sidecar.kubernetes_token_file, "/var/run/secrets/kubernetes.io/serviceaccount/token");

  in.env.erase("KUBERNETES_SERVICE_HOST");
  try {
    agent::load_config(in);
    ADD_FAILURE() << "a role label without an API server was accepted";
  } catch (const agent::AgentError& e) {
    EXPECT_EQ(e.code(), agent::ExitCode::kUsage);
    EXPECT_NE(std::string(e.what()).find("KUBERNETES_SERVICE_HOST is not set"), std::string::npos)
        << e.what();
  }
  in.env["REPLAGENT_SIDECAR_ROLE_LABEL"] = "not a label";
  try {
    agent::load_config(in);
    ADD_FAILURE() << "a bad label key was accepted";
  } catch (const agent::AgentError& e) {
    EXPECT_NE(std::string(e.what()).find("sidecar.role_label"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace replagent::roles
