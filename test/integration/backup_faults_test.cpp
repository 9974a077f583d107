// `replagent backup` against real servers when a run goes wrong: a source that dies mid-dump,
// a standby that cancels the dump (a recovery conflict), a full backup volume.
#include <cstdlib>
#include <memory>
#include <string>

#include "agent/pg.hpp"
#include "test/integration/backup_dump_fixture.hpp"
#include "test/support/backup_support.hpp"
#include "test/support/cluster.hpp"

namespace replagent::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using backup_dump_test::BackupDump;

TEST_F(BackupDump, SourceKilledMidDumpExits4AndLeavesNoPartial) {
  Env env = backup_env(pod(0), backups());
  env["REPLAGENT_BACKUP_SOURCE"] = "primary";
  ASSERT_NO_FATAL_FAILURE(primary_with_first_backup(env));
  Pod& primary = pod(0);
  const std::string earlier = tree_listing(backups());
  ASSERT_NO_FATAL_FAILURE(pgbench_init(primary, 8));

  auto run = start_backup(env, {}, logs());
  // pg_dump writes the archive header first and table data as it goes: once the .partial
  // holds data, the dump is under way.
  const bool dumping = wait_until(
      [&] {
        for (const auto& f : files_ending(backups(), ".partial")) {
          std::error_code ec;
          if (fs::file_size(backups() / f, ec) > 64 * 1024) return true;
        }
        return !run->running();
      },
      120s, 10ms);
  ASSERT_TRUE(dumping && run->running()) << "the dump was not caught in progress:\n"
                                         << read_file(run->stderr_path());
  primary.kill_postgres();
  const auto status = run->wait_for(120s);
  ASSERT_TRUE(status) << "backup did not end after its source died";
  const std::string err = read_file(run->stderr_path());
  EXPECT_EQ(status->shell_code(), 4) << err;
  EXPECT_NE(err.find("backup failed"), std::string::npos) << err;
  // The reason is pg_dump's error, not the COPY command it was running.
  EXPECT_NE(err.find("pg_dump: error:"), std::string::npos) << err;
  EXPECT_TRUE(files_ending(backups(), ".partial").empty());
  EXPECT_EQ(tree_listing(backups()), earlier) << "earlier backups changed";
}

// A hot standby cancels queries that conflict with the WAL it replays. Made deterministic here:
// the replica cancels at once (max_standby_streaming_delay=0), and the primary holds an
// AccessExclusiveLock on `gate`, a partitioned table without partitions that the replica
// replays as held by its startup process. pg_dump locks every table it dumps in OID order: it
// takes `todo`'s AccessShareLock, then waits on `gate` (the agent's own row counts read only
// plain tables, so they never wait). A LOCK of `todo` committed on the primary is then
// replayed as an AccessExclusiveLock that conflicts with pg_dump's, and the replica cancels
// pg_dump itself ("canceling statement due to conflict with recovery").
class BackupConflict : public BackupDump {
 protected:
  void SetUp() override {
    BackupDump::SetUp();
    ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary()));
    ASSERT_NO_FATAL_FAILURE(bring_up_replica(replica(), primary()));
    publish_service(dns(), {primary().ip(), replica().ip()});
    primary().psql(
        "CREATE TABLE todo (item text); INSERT INTO todo SELECT 'item ' || g FROM "
        "generate_series(1, 50) g; CREATE TABLE gate (id int) PARTITION BY RANGE (id)");
    replica().psql("ALTER SYSTEM SET max_standby_streaming_delay = 0");
    replica().psql("SELECT pg_reload_conf()");
    ASSERT_TRUE(wait_until(
        [&] {
          return replica().psql(
                     "SELECT current_setting('max_standby_streaming_delay') || ' ' || "
                     "(to_regclass('public.gate') IS NOT NULL)::text") == "0 true";
        },
        60s))
        << "the replica did not take max_standby_streaming_delay=0 or replay the tables";
    // The gate: an open transaction on the primary, its lock replayed on the replica.
    agent::ConnParams p;
    p.host = primary().socket_dir().string();
    p.port = primary().port();
    p.user = "postgres";
    p.password = agent::Secret(set_config().superuser_password);
    agent::PgError err;
    gate_ = pg_->connect(p, &err);
    ASSERT_TRUE(gate_) << err.message;
    // The agent's sessions run with search_path pg_catalog, pg_temp: names are qualified.
    for (const char* sql : {"BEGIN", "LOCK TABLE public.gate IN ACCESS EXCLUSIVE MODE"}) {
      const auto e = gate_->exec(sql);
      ASSERT_FALSE(e) << sql << ": " << e->message;
    }
    ASSERT_TRUE(wait_until(
        [&] {
          return replica().psql(
                     "SELECT count(*) FROM pg_locks WHERE relation = 'gate'::regclass "
                     "AND mode = 'AccessExclusiveLock' AND granted") == "1";
        },
        60s))
        << "the primary's lock on gate never reached the replica";
  }
  void TearDown() override {
    gate_.reset();
    BackupDump::TearDown();
  }
  Pod& primary() { return pod(0); }
  Pod& replica() { return pod(1); }
  void open_gate() {
    ASSERT_TRUE(gate_);
    const auto e = gate_->exec("COMMIT");
    ASSERT_FALSE(e) << e->message;
  }
  // pg_dump on the replica: holding `todo`, waiting for `gate`.
  bool dump_waits_on_replica() {
    return replica().psql(
               "SELECT count(*) FROM pg_locks w JOIN pg_locks h ON h.pid = w.pid "
               "JOIN pg_stat_activity a ON a.pid = w.pid "
               "WHERE a.application_name = 'replagent-backup' AND a.query LIKE 'LOCK TABLE%' "
               "AND NOT w.granted AND w.relation = 'gate'::regclass "
               "AND h.granted AND h.relation = 'todo'::regclass AND h.mode = 'AccessShareLock'") !=
           "0";
  }
  // The conflict: a statement the replica replays as an AccessExclusiveLock on `todo`.
  void conflict() { primary().psql("BEGIN; LOCK TABLE todo IN ACCESS EXCLUSIVE MODE; COMMIT"); }
  long long lock_conflicts_on_replica() {
    return std::stoll(replica().psql(
        "SELECT confl_lock FROM pg_stat_database_conflicts WHERE datname = 'postgres'"));
  }
  static std::size_t occurrences(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
  }

  std::unique_ptr<agent::PgClient> pg_ = agent::make_libpq_client();
  std::unique_ptr<agent::PgSession> gate_;
};

TEST_F(BackupConflict, CancelledDumpIsRetriedOnTheReplica) {
  const Env env = backup_env(primary(), backups());
  auto run = start_backup(env, {}, logs());
  ASSERT_TRUE(wait_until([&] { return dump_waits_on_replica() || !run->running(); }, 120s));
  ASSERT_TRUE(run->running()) << "the backup ended before its dump was caught:\n"
                              << read_file(run->stderr_path());
  conflict();
  // The agent says it retries; only then does the gate open, so the retry can finish.
  ASSERT_TRUE(wait_until(
      [&] {
        return read_file(run->stderr_path()).find("cancelled by a recovery conflict") !=
                   std::string::npos ||
               !run->running();
      },
      120s));
  open_gate();
  const auto status = run->wait_for(180s);
  ASSERT_TRUE(status) << "the backup did not finish";
  const std::string err = read_file(run->stderr_path());
  ASSERT_EQ(status->shell_code(), 0) << err;
  EXPECT_GE(lock_conflicts_on_replica(), 1) << "the replica recorded no lock conflict";
  EXPECT_NE(err.find("canceling statement due to conflict with recovery"), std::string::npos)
      << err;
  EXPECT_NE(err.find("retrying on the same server"), std::string::npos) << err;
  EXPECT_EQ(occurrences(err, "pg_dump -Fc of database postgres from replica " + replica().ip()), 2u)
      << err;
  EXPECT_NE(err.find("backup done: source replica " + replica().ip()), std::string::npos) << err;
  EXPECT_TRUE(files_ending(backups(), ".partial").empty()) << tree_listing(backups());
  const auto dumps = files_ending(backups(), ".dump");
  ASSERT_EQ(dumps.size(), 1u) << tree_listing(backups());
  EXPECT_EQ(read_file(backups() / (dumps[0] + ".counts")), "50\tpublic.todo\n");
  RunResult check = run_backup(env, {"--verify-restore"}, logs());
  EXPECT_EQ(check.exit_code(), 0) << describe(check);
}

TEST_F(BackupConflict, ReplicaThatKeepsCancellingFallsBackToThePrimary) {
  const Env env = backup_env(primary(), backups());
  auto run = start_backup(env, {}, logs());
  auto falling_back = [&] {
    return read_file(run->stderr_path()).find("falling back to the primary") != std::string::npos;
  };
  // Every attempt on the replica is cancelled, until the agent gives up on it.
  int conflicts = 0;
  for (; conflicts < 10 && run->running() && !falling_back(); ++conflicts) {
    ASSERT_TRUE(wait_until(
        [&] { return dump_waits_on_replica() || falling_back() || !run->running(); }, 120s));
    if (falling_back() || !run->running()) break;
    conflict();
    ASSERT_TRUE(wait_until([&] { return !dump_waits_on_replica(); }, 60s))
        << "pg_dump was not cancelled";
  }
  // The primary's pg_dump waits for the gate like any session there.
  ASSERT_TRUE(wait_until([&] { return falling_back() || !run->running(); }, 120s));
  open_gate();
  const auto status = run->wait_for(180s);
  ASSERT_TRUE(status) << "the backup did not finish";
  const std::string err = read_file(run->stderr_path());
  ASSERT_EQ(status->shell_code(), 0) << err;
  EXPECT_GE(conflicts, 2) << err;
  EXPECT_GE(lock_conflicts_on_replica(), conflicts);
  EXPECT_EQ(occurrences(err, "pg_dump -Fc of database postgres from replica " + replica().ip()),
            static_cast<std::size_t>(conflicts))
      << err;
  EXPECT_EQ(occurrences(err, "pg_dump -Fc of database postgres from primary " + primary().ip()), 1u)
      << err;
  EXPECT_NE(err.find("backup done: source primary " + primary().ip()), std::string::npos) << err;
  EXPECT_NE(
      err.find(std::to_string(conflicts) + " recovery conflicts on replica " + replica().ip()),
      std::string::npos)
      << err;
  EXPECT_TRUE(files_ending(backups(), ".partial").empty()) << tree_listing(backups());
  const auto dumps = files_ending(backups(), ".dump");
  ASSERT_EQ(dumps.size(), 1u) << tree_listing(backups());
  EXPECT_EQ(read_file(backups() / (dumps[0] + ".counts")), "50\tpublic.todo\n");
}

// The disk-full test needs a small volume; scripts/test mounts one as root.
class BackupVolume : public BackupDump {
 protected:
  void SetUp() override {
    const char* p = std::getenv("REPLAGENT_TEST_TMPFS");
    if (p == nullptr || *p == '\0') {
      GTEST_SKIP() << "REPLAGENT_TEST_TMPFS is not set: run via scripts/test as root (it mounts "
                      "a 40 MB tmpfs for this test)";
    }
    BackupDump::SetUp();
    dir_ = fs::path(p) / ("backup-" + random_token(8));
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
    BackupDump::TearDown();
  }
  fs::path dir_;
};

TEST_F(BackupVolume, FullBackupDirExits4AndKeepsEarlierBackups) {
  Env env = backup_env(pod(0), dir_);
  env["REPLAGENT_BACKUP_SOURCE"] = "primary";
  ASSERT_NO_FATAL_FAILURE(primary_with_first_backup(env));
  const std::string earlier = tree_listing(dir_);
  ASSERT_NO_FATAL_FAILURE(pgbench_init(pod(0), 4));
  // Leave 256 kB: far less than the dump of 400000 pgbench rows (about 1.1 MB).
  const auto free = free_bytes(dir_);
  ASSERT_GT(free, 2u << 20);
  allocate_file(dir_ / "filler.bin", free - (256u << 10));
  const std::string with_filler = tree_listing(dir_);

  RunResult r = run_backup(env, {}, logs());
  EXPECT_EQ(r.exit_code(), 4) << describe(r);
  EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("is full"), std::string::npos) << describe(r);
  EXPECT_TRUE(files_ending(dir_, ".partial").empty());
  EXPECT_EQ(tree_listing(dir_), with_filler) << "the failed run left or changed files";

  fs::remove(dir_ / "filler.bin");
  EXPECT_EQ(tree_listing(dir_), earlier);
  RunResult list = run_backup(env, {"--list"}, logs());
  EXPECT_EQ(list.exit_code(), 0) << describe(list);
  EXPECT_NE(list.out.find("checksum ok"), std::string::npos) << describe(list);
}

}  // namespace
}  // namespace replagent::test
