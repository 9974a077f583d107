// The primary's sidecar applies rotated passwords from the mounted files (password_sync.hpp):
// when a file changes, on the primary only, over the socket as the superuser, never the
// superuser's own password, and a failure backs off instead of hammering every poll.
#include "roles/password_sync.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "agent/errors.hpp"
#include "test/unit/fakes.hpp"

namespace replagent::roles {
namespace {

using namespace std::chrono_literals;

struct Files {
  std::map<std::string, std::string> contents;
  int reads = 0;
  PasswordReader reader() {
    return [this](const std::string& path, const std::string& key) {
      ++reads;
      const auto it = contents.find(path);
      if (it == contents.end())
        throw agent::AgentError(agent::ExitCode::kUsage, "cannot read " + key + " '" + path + "'");
      return agent::Secret(it->second);
    };
  }
};

agent::Config config() {
  agent::Config c;
  c.postgres.superuser_password = agent::Secret("super-secret");
  c.postgres.replication_password_file = "/s/replication";
  c.postgres.monitor_password_file = "/s/monitor";
  c.postgres.backup_password_file = "/s/backup";
  return c;
}

// The ALTER/CREATE ROLE statements of one reconciliation, by role.
int alters_of(const std::vector<std::string>& sql, const std::string& role) {
  int n = 0;
  for (const auto& s : sql)
    if (s.rfind("CREATE ROLE \"" + role + "\"", 0) == 0) ++n;
  return n;
}

class PasswordSyncTest : public ::testing::Test {
 protected:
  PasswordSyncTest() {
    files.contents = {{"/s/replication", "r1"}, {"/s/monitor", "m1"}, {"/s/backup", "b1"}};
  }
  Files files;
  fakes::FakePgClient pg;
  fakes::FakeClock clock;
};

TEST_F(PasswordSyncTest, AppliesOnceThenOnlyWhenAFileChanges) {
  PasswordSync sync(config(), pg, clock, files.reader());
  sync.review(true, "/run/pg");
  ASSERT_EQ(pg.connect_calls.size(), 1u);
  const auto& params = pg.connect_calls[0];
  EXPECT_EQ(params.host, "/run/pg") << "the local socket";
  EXPECT_EQ(params.user, "postgres") << "the superuser, by peer authentication";
  EXPECT_TRUE(params.password.empty()) << "the sidecar carries no superuser password";
  EXPECT_EQ(alters_of(pg.sql, "replicator") + alters_of(pg.sql, "replagent_monitor") +
                alters_of(pg.sql, "replagent_backup"),
            3);
  EXPECT_EQ(alters_of(pg.sql, "postgres"), 0) << "the superuser's password is init's alone";
  for (const auto& s : pg.sql) EXPECT_EQ(s.find("super-secret"), std::string::npos) << s;
  EXPECT_EQ(sync.applied(), 1u);

  for (int i = 0; i < 5; ++i) sync.review(true, "/run/pg");
  EXPECT_EQ(pg.connect_calls.size(), 1u) << "unchanged files: no connection";

  files.contents["/s/replication"] = "r2";
  sync.review(true, "/run/pg");
  EXPECT_EQ(pg.connect_calls.size(), 2u);
  EXPECT_EQ(sync.applied(), 2u);
  sync.review(true, "/run/pg");
  EXPECT_EQ(pg.connect_calls.size(), 2u);
}

// The application's password too: a rotated app Secret takes effect without a restart. The
// sidecar never creates the application database (init's job).
TEST_F(PasswordSyncTest, TheAppRolesRotatedPasswordIsApplied) {
  auto c = config();
  c.postgres.app_user = "todo";
  c.postgres.app_database = "todo";
  c.postgres.app_password_file = "/s/app";
  files.contents["/s/app"] = "a1";
  PasswordSync sync(c, pg, clock, files.reader());
  sync.review(true, "/run/pg");
  EXPECT_EQ(alters_of(pg.sql, "todo"), 1);
  for (const auto& s : pg.sql) EXPECT_EQ(s.find("DATABASE"), std::string::npos) << s;

  pg.sql.clear();
  sync.review(true, "/run/pg");
  EXPECT_TRUE(pg.sql.empty()) << "unchanged";
  files.contents["/s/app"] = "a2";
  sync.review(true, "/run/pg");
  EXPECT_EQ(alters_of(pg.sql, "todo"), 1);
  bool with_new = false;
  for (const auto& s : pg.sql)
    with_new |= s.find("CREATE ROLE %I") != std::string::npos &&
                s.find("[todo]") != std::string::npos &&
                s.find("SCRAM-SHA-256") != std::string::npos;
  EXPECT_TRUE(with_new) << "the app role's password is set";
  EXPECT_EQ(sync.applied(), 2u);
}

TEST_F(PasswordSyncTest, AReplicaNeverAlters) {
  PasswordSync sync(config(), pg, clock, files.reader());
  sync.review(false, "/run/pg");
  files.contents["/s/monitor"] = "m2";
  sync.review(false, "/run/pg");
  EXPECT_TRUE(pg.connect_calls.empty());
  EXPECT_EQ(sync.applied(), 0u);
  sync.review(true, "/run/pg");  // promoted
  EXPECT_EQ(sync.applied(), 1u);
}

TEST_F(PasswordSyncTest, AFailureBacksOffAndSucceedsLater) {
  PasswordSync sync(config(), pg, clock, files.reader());
  pg.server.connect_error =
      agent::PgError{"28000", "Peer authentication failed for user \"postgres\""};
  sync.review(true, "/run/pg");
  sync.review(true, "/run/pg");
  EXPECT_EQ(pg.connect_calls.size(), 1u) << "the next attempt waits for the backoff";
  clock.advance(5s);
  sync.review(true, "/run/pg");
  EXPECT_EQ(pg.connect_calls.size(), 2u);
  clock.advance(5s);
  sync.review(true, "/run/pg");
  EXPECT_EQ(pg.connect_calls.size(), 2u) << "doubled: 10 s";
  pg.server.connect_error.reset();
  clock.advance(5s);
  sync.review(true, "/run/pg");
  EXPECT_EQ(sync.applied(), 1u);
}

TEST_F(PasswordSyncTest, AnUnreadableFileChangesNothing) {
  PasswordSync sync(config(), pg, clock, files.reader());
  files.contents.erase("/s/backup");
  sync.review(true, "/run/pg");
  EXPECT_TRUE(pg.connect_calls.empty()) << "no role altered with half the passwords";
  files.contents["/s/backup"] = "b1";
  sync.review(true, "/run/pg");
  EXPECT_EQ(sync.applied(), 1u);
}

TEST_F(PasswordSyncTest, NoSocketNoConnection) {
  PasswordSync sync(config(), pg, clock, files.reader());
  sync.review(true, "");
  EXPECT_TRUE(pg.connect_calls.empty());
  EXPECT_EQ(sync.applied(), 0u);
}

}  // namespace
}  // namespace replagent::roles
