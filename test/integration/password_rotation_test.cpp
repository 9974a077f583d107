// Health over the local socket without a password, and passwords rotated while the set runs
// (roles/password_sync.hpp), on real servers: the sidecar and the probe reach their server as
// the monitoring role by peer authentication (pg_ident.conf's replagent map, written by init);
// the primary's sidecar applies changed password files with ALTER ROLE, so replicas and new
// clones use the rotated ones without a restart of the primary.
#include <fstream>
#include <thread>

#include "test/support/sidecar.hpp"

namespace replagent::test {
namespace {
using namespace std::chrono_literals;

class PasswordRotation : public SidecarTest {
 protected:
  // The sidecar as the chart runs it: the socket directory, no monitoring password at all.
  Env socket_env(Pod& p) {
    return {{"REPLAGENT_POSTGRES_HOST", p.socket_dir().string()},
            {"REPLAGENT_POSTGRES_MONITOR_PASSWORD_FILE", ""}};
  }

  static void rewrite(const std::filesystem::path& file, const std::string& value) {
    // As the kubelet does: a new file renamed over the old one.
    const auto tmp = file.string() + ".new";
    std::ofstream(tmp) << value << "\n";
    std::filesystem::rename(tmp, file);
  }

  RunResult replication_login(Pod& primary, const std::string& password) {
    return primary.psql_result("IDENTIFY_SYSTEM",
                               "host=" + primary.ip() + " port=" + std::to_string(primary.port()) +
                                   " user=replicator dbname=postgres replication=true",
                               {{"PGPASSWORD", password}});
  }
};

TEST_F(PasswordRotation, HealthOverTheSocketNeedsNoPassword) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  Sidecar& s = start_sidecar(primary, socket_env(primary));
  ASSERT_NO_FATAL_FAILURE(expect_eventually_200(s, "/readyz"));
  EXPECT_EQ(s.metric("pg_up"), 1.0);
  RunResult ready = s.probe("ready");
  EXPECT_EQ(ready.exit_code(), 0) << ready.out << ready.err;
  // The probe's own check of the server (the sidecar down) takes the same way.
  s.stop();
  ready = s.probe("ready");
  EXPECT_EQ(ready.exit_code(), 0) << ready.out << ready.err;
}

TEST_F(PasswordRotation, ThePrimarysSidecarAppliesRotatedPasswordsAndANewReplicaClonesWithThem) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  Sidecar& s = start_sidecar(primary, socket_env(primary));
  ASSERT_NO_FATAL_FAILURE(expect_eventually_200(s, "/readyz"));
  const std::string old_password = set_config().replication_password;
  ASSERT_EQ(replication_login(primary, old_password).exit_code(), 0);

  const std::string rotated = "rotated-" + old_password;
  rewrite(set_config().replication_password_file, rotated);
  rewrite(set_config().backup_password_file, "rotated-backup-password");
  bool applied = false;
  for (auto deadline = std::chrono::steady_clock::now() + 15s;
       !applied && std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(200ms))
    applied = replication_login(primary, rotated).exit_code() == 0;
  EXPECT_TRUE(applied) << "the rotated replication password never took effect";
  RunResult old_login = replication_login(primary, old_password);
  EXPECT_NE(old_login.exit_code(), 0) << "the old password still works";
  EXPECT_NE(old_login.err.find("password authentication failed"), std::string::npos)
      << old_login.err;
  EXPECT_EQ(s.get("/readyz").status, 200) << "health never depended on a password";

  // A replica cloned now reads the rotated password from the same file and streams.
  Pod& replica = pod(1);
  ASSERT_NO_FATAL_FAILURE(bring_up_replica(replica, primary));

  const std::string log = read_file(s.log_path());
  EXPECT_NE(log.find("a rotated password is now in effect"), std::string::npos) << log;
  EXPECT_EQ(log.find(rotated), std::string::npos) << "a password in the sidecar's log";
}

}  // namespace
}  // namespace replagent::test
