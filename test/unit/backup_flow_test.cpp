// The backup flows with fake effects: source selection, the steps of a backup and what a
// failure leaves behind, the lock, --list. Real files in a temporary directory. What a backup
// must never be (backup_safety_test.cpp) and the retries of a cancelled dump
// (backup_conflict_test.cpp) are next to it.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test/unit/backup_flow_fixture.hpp"

namespace replagent::roles {
namespace {

namespace fs = std::filesystem;
using backup_flow_test::BackupFlow;
using backup_flow_test::kPrimary;
using backup_flow_test::script_role;
using fakes::exited;
using fakes::FakeProcessRunner;

TEST_F(BackupFlow, PicksTheStreamingReplica) {
  const auto choice = choose_backup_source(config, backup_target_of(config), resolver, pg);
  ASSERT_TRUE(choice.source) << choice.reason;
  EXPECT_EQ(choice.source->role, "replica");
  EXPECT_EQ(choice.source->address, "10.0.0.12");
  // The backup role (never the superuser) over TCP with a numeric address.
  ASSERT_FALSE(pg.connect_calls.empty());
  EXPECT_EQ(pg.connect_calls.back().user, "replagent_backup");
  EXPECT_EQ(pg.connect_calls.back().hostaddr, "10.0.0.12");
  EXPECT_FALSE(pg.connect_calls.back().replication);
}

TEST_F(BackupFlow, FallsBackToThePrimaryAndSaysWhy) {
  script_role(pg.at("10.0.0.12"), true, "");
  pg.at("10.0.0.11").connect_error = agent::PgError{"28P01", "password authentication failed"};
  const auto choice = choose_backup_source(config, backup_target_of(config), resolver, pg);
  ASSERT_TRUE(choice.source);
  EXPECT_EQ(choice.source->role, "primary");
  EXPECT_EQ(choice.source->host, kPrimary);
  EXPECT_NE(choice.reason.find("10.0.0.11: password authentication failed"), std::string::npos)
      << choice.reason;
  EXPECT_NE(choice.reason.find("10.0.0.12: a replica but not streaming"), std::string::npos);
  EXPECT_NE(choice.reason.find("10.0.0.10: not a replica"), std::string::npos);
}

TEST_F(BackupFlow, SourceSettingPrimaryOrHost) {
  config.backup.source = agent::BackupSourceKind::kPrimary;
  auto choice = choose_backup_source(config, backup_target_of(config), resolver, pg);
  ASSERT_TRUE(choice.source);
  EXPECT_EQ(choice.source->address, "10.0.0.10");
  // A numeric host is not looked up.
  config.backup.source = agent::BackupSourceKind::kHost;
  config.backup.source_host = "10.0.0.11";
  choice = choose_backup_source(config, backup_target_of(config), resolver, pg);
  ASSERT_TRUE(choice.source);
  EXPECT_EQ(choice.source->role, "host");
  EXPECT_EQ(choice.source->address, "10.0.0.11");
  config.backup.source = agent::BackupSourceKind::kHost;
  config.backup.source_host = "db.example";
  choice = choose_backup_source(config, backup_target_of(config), resolver, pg);
  EXPECT_FALSE(choice.source);
  EXPECT_NE(choice.reason.find("db.example does not resolve"), std::string::npos) << choice.reason;
}

TEST_F(BackupFlow, TargetFromPodNameOrService) {
  config.pod.name = "todo-db-1";
  config.pod.service = "todo-db";
  EXPECT_EQ(backup_target_of(config).set, "todo-db");
  // A Job pod whose random suffix is all digits is still not read as a member.
  config.pod.name = "todo-db-backup-29012345-24567";
  EXPECT_EQ(backup_target_of(config).set, "todo-db");
  EXPECT_EQ(backup_target_of(config).primary_host, kPrimary);
  config.pod.service = "";
  EXPECT_EQ(backup_target_of(config).set, "todo-db-backup-29012345");
  config.pod.name = "cron-abcde";
  EXPECT_THROW(backup_target_of(config), agent::AgentError);
}

TEST_F(BackupFlow, WritesDumpChecksumAndCountsThenRenames) {
  const auto out = run_backup(config, deps());
  ASSERT_EQ(out.code, agent::ExitCode::kOk) << out.message;
  EXPECT_EQ(files(), (std::vector<std::string>{".lock", "todo-db-20261125T171500Z.dump",
                                               "todo-db-20261125T171500Z.dump.counts",
                                               "todo-db-20261125T171500Z.dump.sha256"}));
  const std::string base = config.backup.dir + "/todo-db-20261125T171500Z.dump";
  EXPECT_EQ(*read_text_file(base + ".counts"), "3\tpublic.todo\n");
  EXPECT_EQ(*read_text_file(base + ".sha256"),
            sha256_file(base) + "  todo-db-20261125T171500Z.dump\n");
  // pg_dump reads at the exported snapshot; the password is only in the passfile.
  const auto* dump = runner.find("pg_dump");
  ASSERT_NE(dump, nullptr);
  EXPECT_EQ(fakes::arg_after(*dump, "-f"), base + ".partial");
  EXPECT_NE(std::find(dump->args.begin(), dump->args.end(), "--snapshot=00000003-0000001B-1"),
            dump->args.end());
  EXPECT_TRUE(dump->env.count("PGPASSFILE"));
  EXPECT_EQ(dump->env.at("PGPASSWORD"), "");
  for (const auto& a : dump->args) EXPECT_EQ(a.find("s3cret"), std::string::npos) << a;
  EXPECT_FALSE(fs::exists(dump->env.at("PGPASSFILE"))) << "the passfile outlived the run";
  ASSERT_NE(runner.find("pg_restore"), nullptr);
  EXPECT_EQ(runner.find("pg_restore")->args,
            (std::vector<std::string>{"--list", base + ".partial"}));
  EXPECT_NE(out.message.find("source replica 10.0.0.12"), std::string::npos) << out.message;
  EXPECT_NE(out.message.find("1 tables / 3 rows, kept 1, removed 0"), std::string::npos)
      << out.message;
}

TEST_F(BackupFlow, FailedDumpLeavesNothingAndExits4) {
  FakeProcessRunner::Script fail;
  fail.result =
      exited(1, "pg_dump: error: could not write to output file: No space left on device");
  fail.effect = [](const agent::ProcessSpec& spec) {
    std::ofstream(fakes::arg_after(spec, "-f")) << "half";
  };
  FakeProcessRunner failing;
  failing.script("pg_dump", fail);
  const auto out = run_backup(config, BackupDeps{resolver, pg, repl, failing, clock, {}});
  EXPECT_EQ(out.code, agent::ExitCode::kCloneFailed);
  EXPECT_NE(out.message.find("No space left on device"), std::string::npos) << out.message;
  EXPECT_NE(out.message.find("is full"), std::string::npos) << out.message;
  EXPECT_EQ(files(), std::vector<std::string>{".lock"});
}

TEST_F(BackupFlow, BadArchiveIsNotPublished) {
  FakeProcessRunner::Script bad;
  bad.result = exited(1, "pg_restore: error: could not read input file: end of file");
  runner.script("pg_restore", bad);
  const auto out = run_backup(config, deps());
  EXPECT_EQ(out.code, agent::ExitCode::kCloneFailed);
  EXPECT_NE(out.message.find("pg_restore --list"), std::string::npos) << out.message;
  EXPECT_EQ(files(), std::vector<std::string>{".lock"});
}

TEST_F(BackupFlow, HeldLockMeansAnotherBackupRuns) {
  fs::create_directories(config.backup.dir);
  auto held = BackupLock::try_acquire(config.backup.dir);
  ASSERT_TRUE(held);
  // flock locks belong to the open file description: a second open in this process conflicts
  // exactly as another process would.
  const auto out = run_backup(config, deps());
  EXPECT_EQ(out.code, agent::ExitCode::kOk);
  EXPECT_NE(out.message.find("another backup is running"), std::string::npos) << out.message;
  EXPECT_EQ(runner.count("pg_dump"), 0);
}

TEST_F(BackupFlow, RetentionAndLeftovers) {
  fs::create_directories(config.backup.dir);
  for (const char* f :
       {"todo-db-20261120T000000Z.dump", "todo-db-20261121T000000Z.dump",
        "todo-db-20261122T000000Z.dump", "todo-db-20261122T000000Z.dump.sha256",
        "todo-db-20261123T000000Z.dump.partial",  // a killed run
        "todo-db-20261119T000000Z.dump.sha256",   // orphan companion
        "todo-db-20261101T000000Z.dump.keep", "other-20261101T000000Z.dump", "notes.txt"}) {
    std::ofstream(config.backup.dir + "/" + f) << "x";
  }
  const auto out = run_backup(config, deps());
  ASSERT_EQ(out.code, agent::ExitCode::kOk) << out.message;
  EXPECT_EQ(files(),
            (std::vector<std::string>{
                ".lock", "notes.txt", "other-20261101T000000Z.dump",
                "todo-db-20261101T000000Z.dump.keep", "todo-db-20261122T000000Z.dump",
                "todo-db-20261122T000000Z.dump.sha256", "todo-db-20261125T171500Z.dump",
                "todo-db-20261125T171500Z.dump.counts", "todo-db-20261125T171500Z.dump.sha256"}));
  EXPECT_NE(out.message.find("kept 2, removed 2"), std::string::npos) << out.message;
}

TEST_F(BackupFlow, SameSecondWaitsForAFreeName) {
  fs::create_directories(config.backup.dir);
  std::ofstream(config.backup.dir + "/todo-db-20261125T171500Z.dump") << "x";
  std::ofstream(config.backup.dir + "/todo-db-20261125T171500Z.dump.sha256") << "x";
  int calls = 0;
  clock.wall_source = [&] { return now + std::chrono::seconds(calls++ > 0 ? 1 : 0); };
  BackupDeps d{resolver, pg, repl, runner, clock, {}};
  const auto out = run_backup(config, d);
  ASSERT_EQ(out.code, agent::ExitCode::kOk) << out.message;
  EXPECT_TRUE(fs::exists(config.backup.dir + "/todo-db-20261125T171501Z.dump"));
}

TEST_F(BackupFlow, ListFlagsMismatchAndMissingChecksums) {
  ASSERT_EQ(run_backup(config, deps()).code, agent::ExitCode::kOk);
  std::ostringstream listing;
  auto out = run_backup_list(config, deps(), listing);
  EXPECT_EQ(out.code, agent::ExitCode::kOk) << out.message;
  EXPECT_NE(listing.str().find("todo-db-20261125T171500Z.dump"), std::string::npos);
  EXPECT_NE(listing.str().find("checksum ok"), std::string::npos) << listing.str();

  {
    std::fstream f(config.backup.dir + "/todo-db-20261125T171500Z.dump",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(2);
    f.put('X');
  }
  std::ofstream(config.backup.dir + "/todo-db-20261124T000000Z.dump") << "no checksum";
  std::ostringstream again;
  out = run_backup_list(config, deps(), again);
  EXPECT_EQ(out.code, agent::ExitCode::kCloneFailed);
  EXPECT_NE(again.str().find("CHECKSUM MISMATCH"), std::string::npos) << again.str();
  EXPECT_NE(again.str().find("CHECKSUM MISSING"), std::string::npos) << again.str();
  EXPECT_NE(out.message.find("2 of 2 backups"), std::string::npos) << out.message;
}

// A run that finds no server leaves backup.dir as it was: no directory made, no lock file.
TEST_F(BackupFlow, NoSourceLeavesNoDirectoryAndNoLock) {
  for (auto& [address, server] : pg.servers)
    server.connect_error = agent::PgError{"", "Connection refused"};
  auto out = run_backup(config, deps());
  EXPECT_EQ(out.code, agent::ExitCode::kCloneFailed) << out.message;
  EXPECT_NE(out.message.find("no server to back up from"), std::string::npos) << out.message;
  EXPECT_FALSE(fs::exists(config.backup.dir)) << "backup.dir was created for a failed run";

  fs::create_directories(config.backup.dir);
  out = run_backup(config, deps());
  EXPECT_EQ(out.code, agent::ExitCode::kCloneFailed) << out.message;
  EXPECT_TRUE(files().empty()) << testing::PrintToString(files());
  EXPECT_EQ(runner.count("pg_dump"), 0);
}

// --list is how people check that backups exist: a backup.dir that is missing (the volume not
// mounted, a wrong path) is an error naming the setting, never "0 backups, checksums ok".
TEST_F(BackupFlow, ListOfAMissingDirectoryIsAnError) {
  std::ostringstream listing;
  const auto out = run_backup_list(config, deps(), listing);
  EXPECT_EQ(out.code, agent::ExitCode::kCloneFailed) << out.message;
  EXPECT_NE(out.message.find("backup.dir " + config.backup.dir), std::string::npos) << out.message;
  EXPECT_EQ(out.message.find("checksums ok"), std::string::npos) << out.message;
  EXPECT_FALSE(fs::exists(config.backup.dir)) << "--list created backup.dir";
}

// A directory without a backup of this set (another volume mounted there, pod.service naming
// another set, no backup ever ran) protects nothing either.
TEST_F(BackupFlow, ListWithoutABackupOfTheSetIsAnError) {
  fs::create_directories(config.backup.dir);
  std::ofstream(config.backup.dir + "/other-20261120T000000Z.dump") << "x";
  std::ostringstream listing;
  const auto out = run_backup_list(config, deps(), listing);
  EXPECT_EQ(out.code, agent::ExitCode::kCloneFailed) << out.message;
  EXPECT_NE(out.message.find("no backups of todo-db in " + config.backup.dir), std::string::npos)
      << out.message;
  EXPECT_NE(out.message.find("REPLAGENT_POD_SERVICE"), std::string::npos) << out.message;
  EXPECT_EQ(listing.str(), "");
}

}  // namespace
}  // namespace replagent::roles
