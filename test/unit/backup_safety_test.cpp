// What a backup must never be, with fake effects: a dump of an empty database published as
// if it protected something, files readable by other users, a lock followed through a symlink,
// a corrupted dump passing the restore check; and the backup settings that guard it.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test/unit/backup_flow_fixture.hpp"

namespace replagent::roles {
namespace {

namespace fs = std::filesystem;
using backup_flow_test::BackupFlow;
using backup_flow_test::CapturedLog;
using backup_flow_test::lines_with;
using backup_flow_test::script;
using backup_flow_test::script_other_databases;
using backup_flow_test::script_tables;
using backup_flow_test::ServerState;
using fakes::FakeProcessRunner;

// backup.database left at its default: `postgres`, the maintenance database, which the
// application rarely uses. A dump of it without a table protects nothing: a config error
// that names the setting and the databases that are there, and no backup is published.
TEST_F(BackupFlow, EmptyDefaultDatabaseIsAConfigErrorAndPublishesNothing) {
  for (auto& [address, server] : pg.servers) {
    script_tables(server, {});
    script_other_databases(server, {"todo", "billing"});
  }
  ASSERT_EQ(config.backup.database, "postgres");
  const auto out = run_backup(config, deps());
  EXPECT_EQ(out.code, agent::ExitCode::kUsage) << out.message;
  for (const char* needle : {"database postgres", "no tables", "backup.database",
                             "REPLAGENT_BACKUP_DATABASE", "todo, billing"}) {
    EXPECT_NE(out.message.find(needle), std::string::npos) << needle << ": " << out.message;
  }
  EXPECT_EQ(files(), std::vector<std::string>{".lock"}) << "a backup of nothing was published";
}

// A database named on purpose may be empty for a while (a new application before its first
// migration): the backup is made, with one warning line saying it protects nothing.
TEST_F(BackupFlow, EmptyNamedDatabaseIsBackedUpWithOneWarning) {
  for (auto& [address, server] : pg.servers) script_tables(server, {});
  config.backup.database = "todo";
  CapturedLog log;
  const auto out = run_backup(config, deps());
  ASSERT_EQ(out.code, agent::ExitCode::kOk) << out.message;
  EXPECT_NE(out.message.find("0 tables / 0 rows"), std::string::npos) << out.message;
  const auto warnings = lines_with(log.text(), "warning ");
  ASSERT_EQ(warnings.size(), 1u) << log.text();
  EXPECT_NE(warnings[0].find("database todo"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("no tables"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("backup.database"), std::string::npos) << warnings[0];

  // Once it holds a table, no warning; nor for the default database when it holds one.
  for (auto& [address, server] : pg.servers) script_tables(server, {{"public.todo", 0}});
  CapturedLog again;
  now += std::chrono::hours(1);
  ASSERT_EQ(run_backup(config, deps()).code, agent::ExitCode::kOk);
  config.backup.database = "postgres";
  now += std::chrono::hours(1);
  ASSERT_EQ(run_backup(config, deps()).code, agent::ExitCode::kOk);
  EXPECT_TRUE(lines_with(again.text(), "warning ").empty()) << again.text();
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

// Sets the umask for one test and puts the old one back.
struct ScopedUmask {
  explicit ScopedUmask(mode_t m) : old(::umask(m)) {}
  ~ScopedUmask() { ::umask(old); }
  mode_t old;
};

// A backup holds every row of the database: with the usual umask 022 its files would be 0644
// in a 0755 directory, readable by any user of the node that can reach the volume.
TEST_F(BackupFlow, BackupFilesArePrivateWhateverTheUmask) {
  ScopedUmask usual(022);
  // What pg_dump finds at -f when it opens it: it keeps an existing file's mode.
  unsigned mode_seen_by_pg_dump = 0;
  FakeProcessRunner::Script dump;
  dump.effect = [&](const agent::ProcessSpec& spec) {
    mode_seen_by_pg_dump = mode_of(fakes::arg_after(spec, "-f"));
    std::ofstream(fakes::arg_after(spec, "-f")) << "PGDMP fake archive";
  };
  FakeProcessRunner watching;
  watching.script("pg_dump", dump);
  const auto out = run_backup(config, BackupDeps{resolver, pg, repl, watching, clock, {}});
  ASSERT_EQ(out.code, agent::ExitCode::kOk) << out.message;
  EXPECT_EQ(mode_seen_by_pg_dump, 0600u) << "the .partial was not created private before the dump";
  EXPECT_EQ(mode_of(config.backup.dir), 0700u);
  ASSERT_EQ(files().size(), 4u);
  for (const auto& f : files()) EXPECT_EQ(mode_of(config.backup.dir + "/" + f), 0600u) << f;
}

TEST_F(BackupFlow, ExistingWideBackupDirAndLockAreTightened) {
  ScopedUmask usual(022);
  fs::create_directories(config.backup.dir);
  ASSERT_EQ(::chmod(config.backup.dir.c_str(), 0755), 0);
  std::ofstream(config.backup.dir + "/.lock");  // left 0644 by an earlier version
  ASSERT_EQ(mode_of(config.backup.dir + "/.lock"), 0644u);
  const auto out = run_backup(config, deps());
  ASSERT_EQ(out.code, agent::ExitCode::kOk) << out.message;
  EXPECT_EQ(mode_of(config.backup.dir), 0700u);
  EXPECT_EQ(mode_of(config.backup.dir + "/.lock"), 0600u);
}

TEST_F(BackupFlow, SymlinkAtTheLockIsNotFollowed) {
  fs::create_directories(config.backup.dir);
  const std::string elsewhere = dir / "elsewhere";
  fs::create_symlink(elsewhere, config.backup.dir + "/.lock");
  const auto out = run_backup(config, deps());
  EXPECT_EQ(out.code, agent::ExitCode::kCloneFailed) << out.message;
  EXPECT_NE(out.message.find(".lock"), std::string::npos) << out.message;
  EXPECT_FALSE(fs::exists(elsewhere)) << "the lock was created through the symlink";
  EXPECT_EQ(runner.count("pg_dump"), 0);
}

TEST_F(BackupFlow, RestoreCheckRefusesACorruptedDump) {
  ASSERT_EQ(run_backup(config, deps()).code, agent::ExitCode::kOk);
  std::ofstream(config.backup.dir + "/todo-db-20261125T171500Z.dump", std::ios::app) << "junk";
  const auto out = run_restore_check(config, deps());
  EXPECT_EQ(out.code, agent::ExitCode::kCloneFailed);
  EXPECT_NE(out.message.find("checksum mismatch"), std::string::npos) << out.message;
  EXPECT_EQ(runner.count("initdb"), 0);
}

TEST_F(BackupFlow, RestoreCheckComparesWithTheRecordedCounts) {
  ASSERT_EQ(run_backup(config, deps()).code, agent::ExitCode::kOk);
  script(pg.server, ServerState{false, "", std::nullopt, {{"public.todo", 3}}, {}});
  auto out = run_restore_check(config, deps());
  EXPECT_EQ(out.code, agent::ExitCode::kOk) << out.message;
  EXPECT_NE(out.message.find("1 tables / 3 rows match"), std::string::npos) << out.message;
  // The temporary server listens on a unix socket only and is stopped again.
  const auto* start = runner.find("pg_ctl");
  ASSERT_NE(start, nullptr);
  EXPECT_NE(fakes::arg_after(*start, "-o").find("listen_addresses=''"), std::string::npos);
  EXPECT_EQ(runner.specs.back().args.back(), "stop");

  script_tables(pg.server, {{"public.todo", 2}});
  out = run_restore_check(config, deps());
  EXPECT_EQ(out.code, agent::ExitCode::kCloneFailed);
  EXPECT_NE(out.message.find("public.todo: 2 rows restored, 3 in the source"), std::string::npos)
      << out.message;
}

TEST(BackupConfig, MaxAgeIsAnOptionalDuration) {
  agent::ConfigInputs in;
  in.default_file = "/nonexistent/replagent.toml";
  in.hostname = "todo-db-0";
  EXPECT_FALSE(agent::load_config(in).backup.max_age);
  in.env["REPLAGENT_BACKUP_MAX_AGE"] = "168h";
  EXPECT_EQ(agent::load_config(in).backup.max_age, std::chrono::hours(168));
  EXPECT_NE(agent::render_config(agent::load_config(in)).find("max_age = '168h'"),
            std::string::npos);
  in.flags = {{"backup.max_age", ""}};
  EXPECT_FALSE(agent::load_config(in).backup.max_age);
  for (const char* bad : {"7d", "0", "-1h", "soon"}) {
    in.flags = {{"backup.max_age", bad}};
    EXPECT_THROW(agent::load_config(in), agent::AgentError) << bad;
  }
}

// An empty backup.dir is a setting left blank (an empty value in a ConfigMap or env), not a
// directory that failed: exit 2 naming the key, before anything runs.
TEST(BackupConfig, EmptyDirIsAConfigError) {
  agent::ConfigInputs in;
  in.default_file = "/nonexistent/replagent.toml";
  in.hostname = "todo-db-0";
  EXPECT_EQ(agent::load_config(in).backup.dir, "/backup");
  const auto expect_usage_error = [&](const char* origin) {
    try {
      agent::load_config(in);
      ADD_FAILURE() << origin << ": an empty backup.dir was accepted";
    } catch (const agent::AgentError& e) {
      EXPECT_EQ(e.code(), agent::ExitCode::kUsage) << e.what();
      EXPECT_NE(std::string(e.what()).find("backup.dir"), std::string::npos) << e.what();
    }
  };
  in.env["REPLAGENT_BACKUP_DIR"] = "";
  expect_usage_error("environment");
  in.env.clear();
  in.flags = {{"backup.dir", ""}};
  expect_usage_error("flag");
  in.flags.clear();
  in.file_text = "[backup]\ndir = \"\"\n";
  expect_usage_error("file");
}

}  // namespace
}  // namespace replagent::roles
