// A dump cancelled by a recovery conflict on the standby it reads from, with fake effects:
// retried on the same replica, then the primary; what the tools' output says when they fail.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "test/unit/backup_flow_fixture.hpp"

namespace replagent::roles {
namespace {

namespace fs = std::filesystem;
using backup_flow_test::BackupFlow;
using backup_flow_test::CapturedLog;
using backup_flow_test::kPrimary;
using backup_flow_test::lines_with;
using fakes::exited;
using fakes::FakeProcessRunner;

// A standby cancels a dump that conflicts with the WAL it replays: the replica again after a
// wait, then the primary; one log line per attempt naming the server; the summary names the
// server the dump came from; a cancelled attempt's output is never published.
constexpr const char* kConflictTail =
    "pg_dump: error: query failed: ERROR:  canceling statement due to conflict with recovery\n"
    "DETAIL:  User was holding a relation lock for too long.\n";

FakeProcessRunner::Script cancelled_dump() {
  FakeProcessRunner::Script s;
  s.result = exited(1, kConflictTail);
  s.effect = [](const agent::ProcessSpec& spec) {
    std::ofstream(fakes::arg_after(spec, "-f")) << "PGDMP half";
  };
  return s;
}
FakeProcessRunner::Script good_dump() {
  FakeProcessRunner::Script s;
  s.effect = [](const agent::ProcessSpec& spec) {
    std::ofstream(fakes::arg_after(spec, "-f")) << "PGDMP fake archive";
  };
  return s;
}
std::string dump_hostaddr(const agent::ProcessSpec& spec) {
  const std::string conninfo = fakes::arg_after(spec, "-d");
  const auto at = conninfo.find("hostaddr=");
  if (at == std::string::npos) return "";
  std::string value = conninfo.substr(at + 9);  // conninfo-quoted: '10.0.0.12'
  value.erase(std::remove(value.begin(), value.end(), '\''), value.end());
  return value;
}

TEST_F(BackupFlow, RecoveryConflictIsRetriedOnTheSameReplica) {
  FakeProcessRunner r;
  r.script("pg_dump", cancelled_dump());
  r.script("pg_dump", good_dump());
  CapturedLog log;
  const auto out = run_backup(config, BackupDeps{resolver, pg, repl, r, clock, {}});
  ASSERT_EQ(out.code, agent::ExitCode::kOk) << out.message;
  ASSERT_EQ(r.count("pg_dump"), 2);
  for (const auto& spec : r.specs)
    if (spec.program == "pg_dump") {
      EXPECT_EQ(dump_hostaddr(spec), "10.0.0.12");
    }
  EXPECT_EQ(clock.sleeps, std::vector<std::chrono::milliseconds>{kConflictRetryDelay});
  EXPECT_NE(out.message.find("source replica 10.0.0.12"), std::string::npos) << out.message;
  EXPECT_EQ(out.message.find("recovery conflict"), std::string::npos) << out.message;
  const auto attempts = lines_with(log.text(), "pg_dump -Fc of database");
  ASSERT_EQ(attempts.size(), 2u) << log.text();
  EXPECT_NE(attempts[0].find("from replica 10.0.0.12"), std::string::npos) << attempts[0];
  EXPECT_NE(attempts[0].find("attempt 1: a streaming replica"), std::string::npos) << attempts[0];
  EXPECT_NE(attempts[1].find("attempt 2: retry 2 of"), std::string::npos) << attempts[1];
  EXPECT_EQ(lines_with(log.text(), "cancelled by a recovery conflict").size(), 1u) << log.text();
  // The published dump is the second attempt's, whole.
  EXPECT_EQ(*read_text_file(config.backup.dir + "/todo-db-20261125T171500Z.dump"),
            "PGDMP fake archive");
}

TEST_F(BackupFlow, ReplicaThatKeepsConflictingFallsBackToThePrimary) {
  FakeProcessRunner r;
  for (int i = 0; i < kDumpAttemptsPerReplica; ++i) r.script("pg_dump", cancelled_dump());
  r.script("pg_dump", good_dump());
  CapturedLog log;
  const auto out = run_backup(config, BackupDeps{resolver, pg, repl, r, clock, {}});
  ASSERT_EQ(out.code, agent::ExitCode::kOk) << out.message;
  std::vector<std::string> hosts;
  for (const auto& spec : r.specs)
    if (spec.program == "pg_dump") hosts.push_back(dump_hostaddr(spec));
  std::vector<std::string> expected(kDumpAttemptsPerReplica, "10.0.0.12");
  expected.push_back("10.0.0.10");
  EXPECT_EQ(hosts, expected);
  EXPECT_EQ(clock.sleeps.size(), static_cast<std::size_t>(kDumpAttemptsPerReplica - 1));
  EXPECT_NE(out.message.find("source primary 10.0.0.10 (" + std::string(kPrimary) + ") after " +
                             std::to_string(kDumpAttemptsPerReplica) +
                             " recovery conflicts on replica 10.0.0.12"),
            std::string::npos)
      << out.message;
  EXPECT_EQ(lines_with(log.text(), "falling back to the primary").size(), 1u) << log.text();
  const auto attempts = lines_with(log.text(), "pg_dump -Fc of database");
  ASSERT_EQ(attempts.size(), static_cast<std::size_t>(kDumpAttemptsPerReplica + 1)) << log.text();
  EXPECT_NE(attempts.back().find("from primary 10.0.0.10"), std::string::npos) << attempts.back();
  EXPECT_NE(attempts.back().find("the primary, after"), std::string::npos) << attempts.back();
  EXPECT_EQ(*read_text_file(config.backup.dir + "/todo-db-20261125T171500Z.dump"),
            "PGDMP fake archive");
}

TEST_F(BackupFlow, NamedStandbyThatKeepsConflictingFailsAndKeepsNothing) {
  config.backup.source = agent::BackupSourceKind::kHost;
  config.backup.source_host = "10.0.0.12";
  FakeProcessRunner r;
  r.script("pg_dump", cancelled_dump());
  const auto out = run_backup(config, BackupDeps{resolver, pg, repl, r, clock, {}});
  EXPECT_EQ(out.code, agent::ExitCode::kCloneFailed) << out.message;
  EXPECT_EQ(r.count("pg_dump"), kDumpAttemptsPerReplica);
  for (const auto& spec : r.specs)
    if (spec.program == "pg_dump") {
      EXPECT_EQ(dump_hostaddr(spec), "10.0.0.12");
    }
  EXPECT_NE(out.message.find("conflict with recovery"), std::string::npos) << out.message;
  EXPECT_NE(out.message.find("backup.source names it"), std::string::npos) << out.message;
  EXPECT_EQ(r.count("pg_restore"), 0) << "a cancelled dump was checked as if whole";
  EXPECT_EQ(files(), std::vector<std::string>{".lock"});
}

TEST_F(BackupFlow, OtherDumpFailuresAreNotRetried) {
  FakeProcessRunner r;
  FakeProcessRunner::Script refused;
  refused.result = exited(1, "pg_dump: error: connection to server failed: Connection refused");
  r.script("pg_dump", refused);
  r.script("pg_dump", good_dump());
  const auto out = run_backup(config, BackupDeps{resolver, pg, repl, r, clock, {}});
  EXPECT_EQ(out.code, agent::ExitCode::kCloneFailed) << out.message;
  EXPECT_EQ(r.count("pg_dump"), 1);
  EXPECT_TRUE(clock.sleeps.empty());
}

TEST(BackupToolOutput, ErrorAndServerDetailNotTheCommand) {
  const std::pair<const char*, const char*> cases[] = {
      {"pg_dump: error: Dumping the contents of table \"t\" failed: PQgetCopyData() failed.\n"
       "pg_dump: detail: Error message from server: server closed the connection unexpectedly\n"
       "pg_dump: detail: Command was: COPY public.t (a) TO stdout;\n",
       "pg_dump: error: Dumping the contents of table \"t\" failed: PQgetCopyData() failed. "
       "pg_dump: detail: Error message from server: server closed the connection unexpectedly"},
      {"pg_dump: error: could not write to output file: No space left on device\n",
       "pg_dump: error: could not write to output file: No space left on device"},
      {"something\nlast words\n", "last words"},
      {"", "(no output)"},
  };
  for (const auto& [tail, expected] : cases) EXPECT_EQ(last_line(exited(1, tail)), expected);
}

}  // namespace
}  // namespace replagent::roles
