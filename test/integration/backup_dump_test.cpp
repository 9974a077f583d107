// `replagent backup` against real servers: a consistent dump from a streaming replica under
// load, the database it dumps, overlapping runs. What a run that goes wrong leaves behind is
// backup_faults_test.cpp's.
#include <signal.h>

#include <sstream>
#include <thread>

#include "agent/pg.hpp"
#include "test/integration/backup_dump_fixture.hpp"
#include "test/support/backup_support.hpp"
#include "test/support/cluster.hpp"

namespace replagent::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using backup_dump_test::BackupDump;

TEST_F(BackupDump, FromStreamingReplicaWhilePgbenchWrites) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  Pod& replica = pod(1);
  ASSERT_NO_FATAL_FAILURE(bring_up_replica(replica, primary));
  publish_service(dns(), {primary.ip(), replica.ip()});
  ASSERT_NO_FATAL_FAILURE(pgbench_init(primary, 4));
  // Rows are only ever inserted: a count taken before the backup and one after bracket the
  // count at the dump's snapshot.
  primary.psql("CREATE TABLE events (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())");
  write_file(scratch() / "insert.sql", "INSERT INTO events DEFAULT VALUES;\n");
  auto bench = start_pgbench(
      primary, {"-n", "-c", "2", "-T", "300", "-f", (scratch() / "insert.sql").string()}, logs());
  ASSERT_TRUE(wait_until(
      [&] { return replica.psql_result("SELECT count(*) > 200 FROM events").out == "t\n"; }, 60s))
      << "pgbench's inserts do not reach the replica";

  const Env env = backup_env(primary, backups());
  const long long before = count(replica, "events");
  RunResult r = run_backup(env, {}, logs());
  const long long after = count(replica, "events");
  ASSERT_TRUE(bench->running()) << "pgbench ended early:\n"
                                << tail_file(logs() / "pgbench.stderr", 10);
  bench->stop(SIGINT, 10s);
  ASSERT_EQ(r.exit_code(), 0) << describe(r);
  EXPECT_NE(r.err.find("backup done: source replica " + replica.ip()), std::string::npos)
      << describe(r);
  EXPECT_LT(before, after) << "no writes happened during the backup";

  const auto dumps = files_ending(backups(), ".dump");
  ASSERT_EQ(dumps.size(), 1u);
  const fs::path dump = backups() / dumps[0];
  EXPECT_TRUE(files_ending(backups(), ".partial").empty());
  EXPECT_TRUE(fs::exists(backups() / (dumps[0] + ".sha256")));

  // Restore by hand with the stock tool: the dump is complete and consistent.
  primary.psql("CREATE DATABASE restored");
  RunResult restore = primary.pg_tool(
      "pg_restore",
      {"--no-owner", "-d",
       "host=" + primary.socket_dir().string() + " port=" + std::to_string(primary.port()) +
           " user=postgres dbname=restored",
       dump.string()},
      {}, 300s);
  ASSERT_EQ(restore.exit_code(), 0) << restore.err;
  auto restored_count = [&](const std::string& table) {
    RunResult q = primary.psql_result("SELECT count(*) FROM " + table,
                                      "host=" + primary.socket_dir().string() +
                                          " port=" + std::to_string(primary.port()) +
                                          " user=postgres dbname=restored");
    return std::stoll(q.out);
  };
  const long long at_snapshot = restored_count("events");
  EXPECT_LE(before, at_snapshot);
  EXPECT_LE(at_snapshot, after);
  EXPECT_EQ(restored_count("pgbench_accounts"), 400000);
  // The counts recorded at the dump's snapshot are the restored ones.
  const std::string counts = read_file(backups() / (dumps[0] + ".counts"));
  EXPECT_NE(counts.find(std::to_string(at_snapshot) + "\tpublic.events\n"), std::string::npos)
      << counts;
  EXPECT_NE(counts.find("400000\tpublic.pgbench_accounts\n"), std::string::npos) << counts;

  RunResult check = run_backup(env, {"--verify-restore"}, logs());
  EXPECT_EQ(check.exit_code(), 0) << describe(check);
  EXPECT_NE(check.err.find("restore check passed"), std::string::npos) << describe(check);
}

// backup.database names the application's database; the restore check restores that one.
TEST_F(BackupDump, NamedDatabaseIsDumpedAndRestoreChecked) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  primary.psql("CREATE DATABASE todo");
  const std::string todo_db = "host=" + primary.socket_dir().string() +
                              " port=" + std::to_string(primary.port()) +
                              " user=postgres dbname=todo";
  ASSERT_EQ(primary
                .psql_result("CREATE TABLE items (id int); INSERT INTO items SELECT "
                             "generate_series(1, 321)",
                             todo_db)
                .exit_code(),
            0);
  Env env = backup_env(primary, backups());
  env["REPLAGENT_BACKUP_DATABASE"] = "todo";
  RunResult r = run_backup(env, {}, logs());
  ASSERT_EQ(r.exit_code(), 0) << describe(r);
  EXPECT_NE(r.err.find("of database todo"), std::string::npos) << describe(r);
  const auto dumps = files_ending(backups(), ".dump");
  ASSERT_EQ(dumps.size(), 1u);
  const std::string counts = read_file(backups() / (dumps[0] + ".counts"));
  EXPECT_NE(counts.find("321\tpublic.items\n"), std::string::npos) << counts;
  RunResult check = run_backup(env, {"--verify-restore"}, logs());
  EXPECT_EQ(check.exit_code(), 0) << describe(check);

  env["REPLAGENT_BACKUP_DATABASE"] = "nosuchdb";
  RunResult missing = run_backup(env, {}, logs());
  EXPECT_EQ(missing.exit_code(), 4) << describe(missing);
  EXPECT_NE(missing.err.find("\"nosuchdb\" does not exist"), std::string::npos)
      << describe(missing);
  EXPECT_EQ(files_ending(backups(), ".dump").size(), 1u);
  EXPECT_TRUE(files_ending(backups(), ".partial").empty());
}

// A fresh server's `postgres` database holds no table: left at that default, backup.database
// makes nightly backups of nothing that all look fine. That is exit 2 naming the setting and
// the databases there, with nothing published; a database named on purpose but still empty
// (before the application's first migration) is backed up, with one warning line.
TEST_F(BackupDump, EmptyDefaultDatabaseIsAConfigErrorEmptyNamedOneWarns) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  primary.psql("CREATE DATABASE todo");
  Env env = backup_env(primary, backups());
  env["REPLAGENT_BACKUP_SOURCE"] = "primary";

  RunResult left = run_backup(env, {}, logs());
  EXPECT_EQ(left.exit_code(), 2) << describe(left);
  for (const char* needle :
       {"database postgres (backup.database's default) holds no tables",
        "set backup.database to the application's database (REPLAGENT_BACKUP_DATABASE",
        "other databases: todo"}) {
    EXPECT_NE(left.err.find(needle), std::string::npos) << needle << "\n" << describe(left);
  }
  EXPECT_EQ(left.err.find("backup done"), std::string::npos) << describe(left);
  EXPECT_TRUE(files_ending(backups(), ".dump").empty()) << tree_listing(backups());
  EXPECT_TRUE(files_ending(backups(), ".partial").empty()) << tree_listing(backups());

  env["REPLAGENT_BACKUP_DATABASE"] = "todo";
  RunResult named = run_backup(env, {}, logs());
  ASSERT_EQ(named.exit_code(), 0) << describe(named);
  EXPECT_NE(named.err.find("0 tables / 0 rows"), std::string::npos) << describe(named);
  std::vector<std::string> warnings;
  std::istringstream lines(named.err);
  for (std::string line; std::getline(lines, line);)
    if (line.find(" warn") != std::string::npos) warnings.push_back(line);
  ASSERT_EQ(warnings.size(), 1u) << describe(named);
  EXPECT_NE(warnings[0].find("database todo (backup.database) holds no tables"), std::string::npos)
      << warnings[0];
  EXPECT_EQ(files_ending(backups(), ".dump").size(), 1u) << tree_listing(backups());
}

TEST_F(BackupDump, TwoAtOnceWriteExactlyOneDump) {
  Env env = backup_env(pod(0), backups());
  env["REPLAGENT_BACKUP_SOURCE"] = "primary";
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  ASSERT_NO_FATAL_FAILURE(pgbench_init(primary, 2));
  fs::create_directories(backups());

  auto a = start_backup(env, {}, logs());
  auto b = start_backup(env, {}, logs());
  const auto sa = a->wait_for(180s);
  const auto sb = b->wait_for(180s);
  ASSERT_TRUE(sa && sb) << "a backup did not finish";
  const std::string err_a = read_file(a->stderr_path());
  const std::string err_b = read_file(b->stderr_path());
  EXPECT_EQ(sa->shell_code(), 0) << err_a;
  EXPECT_EQ(sb->shell_code(), 0) << err_b;
  EXPECT_EQ(files_ending(backups(), ".dump").size(), 1u);
  const bool a_skipped = err_a.find("another backup is running") != std::string::npos;
  const bool b_skipped = err_b.find("another backup is running") != std::string::npos;
  EXPECT_NE(a_skipped, b_skipped) << "exactly one run must step aside:\n" << err_a << "\n" << err_b;
  EXPECT_NE((a_skipped ? err_b : err_a).find("backup done"), std::string::npos);
}

}  // namespace
}  // namespace replagent::test
