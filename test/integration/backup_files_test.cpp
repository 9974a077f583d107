// `replagent backup` and the files in backup.dir: retention, --list and --verify-restore of a
// good and a corrupted dump, against a real primary.
#include <sys/stat.h>

#include "test/support/backup_support.hpp"
#include "test/support/cluster.hpp"

namespace replagent::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class BackupFiles : public ClusterTest {
 protected:
  fs::path logs() const { return scratch() / "logs"; }
  fs::path backups() const { return scratch() / "backups"; }
  Env env() {
    Env e = backup_env(pod(0), backups());
    e["REPLAGENT_BACKUP_SOURCE"] = "primary";
    return e;
  }
  void primary_with_rows() {
    Pod& primary = pod(0);
    ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
    primary.psql(
        "CREATE TABLE todo (id serial PRIMARY KEY, item text); INSERT INTO todo (item) "
        "SELECT 'item ' || g FROM generate_series(1, 1000) g; CREATE SCHEMA \"Audit Log\"; "
        "CREATE TABLE \"Audit Log\".\"Entries\" (v int); INSERT INTO \"Audit Log\".\"Entries\" "
        "SELECT g FROM generate_series(1, 7) g");
  }
  std::vector<std::string> ours() {
    std::vector<std::string> out;
    for (const auto& f : files_ending(backups(), ".dump"))
      if (f.rfind("todo-db-2", 0) == 0) out.push_back(f);
    return out;
  }
};

TEST_F(BackupFiles, RetentionKeepsNewestIgnoresForeignNeverRemovesNew) {
  ASSERT_NO_FATAL_FAILURE(primary_with_rows());
  fs::create_directories(backups());
  const std::vector<std::string> foreign = {
      "notes.txt", "todo-db-latest.dump", "other-20240101T000000Z.dump",
      "todo-db-20240101T000000Z.dump.bak", "todo-db-x-20240101T000000Z.dump"};
  for (const auto& f : foreign) write_file(backups() / f, "not ours\n");
  // Older runs, and one whose name lies in the future (a node with a wrong clock).
  for (const char* f : {"todo-db-20240101T000000Z.dump", "todo-db-20240101T000000Z.dump.sha256",
                        "todo-db-20240102T000000Z.dump", "todo-db-20240103T000000Z.dump",
                        "todo-db-20991231T000000Z.dump"}) {
    write_file(backups() / f, "old\n");
  }

  Env e = env();
  e["REPLAGENT_BACKUP_KEEP"] = "3";
  RunResult r = run_backup(e, {}, logs());
  ASSERT_EQ(r.exit_code(), 0) << describe(r);
  EXPECT_NE(r.err.find("kept 3, removed 2"), std::string::npos) << describe(r);
  auto kept = ours();
  ASSERT_EQ(kept.size(), 3u) << testing::PrintToString(kept);
  EXPECT_EQ(kept[0], "todo-db-20240103T000000Z.dump");
  EXPECT_EQ(kept[2], "todo-db-20991231T000000Z.dump");
  const std::string new_one = kept[1];
  EXPECT_NE(r.err.find(new_one), std::string::npos);
  EXPECT_FALSE(fs::exists(backups() / "todo-db-20240101T000000Z.dump.sha256"));
  for (const auto& f : foreign) EXPECT_EQ(read_file(backups() / f), "not ours\n") << f;

  // keep=1: the future-named backup is newer by name, yet the one just made stays.
  e["REPLAGENT_BACKUP_KEEP"] = "1";
  r = run_backup(e, {}, logs());
  ASSERT_EQ(r.exit_code(), 0) << describe(r);
  kept = ours();
  ASSERT_EQ(kept.size(), 1u) << testing::PrintToString(kept);
  EXPECT_NE(kept[0], new_one);
  EXPECT_NE(kept[0], "todo-db-20991231T000000Z.dump");
  EXPECT_TRUE(fs::exists(backups() / (kept[0] + ".sha256")));
  EXPECT_TRUE(fs::exists(backups() / (kept[0] + ".counts")));
  EXPECT_EQ(files_ending(backups(), ".sha256").size(), 1u);
  for (const auto& f : foreign) EXPECT_TRUE(fs::exists(backups() / f)) << f;
}

TEST_F(BackupFiles, CorruptedDumpIsReportedByListAndVerifyRestore) {
  ASSERT_NO_FATAL_FAILURE(primary_with_rows());
  RunResult r = run_backup(env(), {}, logs());
  ASSERT_EQ(r.exit_code(), 0) << describe(r);
  EXPECT_NE(r.err.find("2 tables / 1007 rows"), std::string::npos) << describe(r);

  RunResult list = run_backup(env(), {"--list"}, logs());
  EXPECT_EQ(list.exit_code(), 0) << describe(list);
  EXPECT_NE(list.out.find("checksum ok"), std::string::npos) << describe(list);
  RunResult check = run_backup(env(), {"--verify-restore"}, logs());
  EXPECT_EQ(check.exit_code(), 0) << describe(check);
  EXPECT_NE(check.err.find("2 tables / 1007 rows match"), std::string::npos) << describe(check);

  const auto dumps = files_ending(backups(), ".dump");
  ASSERT_EQ(dumps.size(), 1u);
  const fs::path dump = backups() / dumps[0];
  flip_bytes(dump, fs::file_size(dump) / 2, 16);

  list = run_backup(env(), {"--list"}, logs());
  EXPECT_EQ(list.exit_code(), 4) << describe(list);
  EXPECT_NE(list.out.find(dumps[0]), std::string::npos) << describe(list);
  EXPECT_NE(list.out.find("CHECKSUM MISMATCH"), std::string::npos) << describe(list);
  check = run_backup(env(), {"--verify-restore"}, logs());
  EXPECT_EQ(check.exit_code(), 4) << describe(check);
  EXPECT_NE(check.err.find("checksum mismatch"), std::string::npos) << describe(check);
}

unsigned mode_of(const fs::path& path) {
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

// Every row of the database is in a backup: under the usual umask 022 the agent must still
// leave nothing others can read or list.
TEST_F(BackupFiles, BackupsAre0600InA0700Directory) {
  ASSERT_NO_FATAL_FAILURE(primary_with_rows());
  const ScopedUmask usual(022);  // inherited by replagent and its pg_dump
  RunResult r = run_backup(env(), {}, logs());
  ASSERT_EQ(r.exit_code(), 0) << describe(r);
  EXPECT_EQ(mode_of(backups()), 0700u) << "a new backup.dir";
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(backups())) {
    EXPECT_EQ(mode_of(e.path()), 0600u) << e.path();
    ++files;
  }
  EXPECT_EQ(files, 4u) << "the .dump, .sha256, .counts and .lock";

  // A backup.dir others can enter (made so by hand, or by an earlier version) is tightened.
  fs::permissions(backups(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                 fs::perms::others_read | fs::perms::others_exec);
  r = run_backup(env(), {}, logs());
  ASSERT_EQ(r.exit_code(), 0) << describe(r);
  EXPECT_EQ(mode_of(backups()), 0700u);
  EXPECT_NE(r.err.find("tightened to 0700"), std::string::npos) << describe(r);
  for (const auto& f : files_ending(backups(), ".dump")) {
    EXPECT_EQ(mode_of(backups() / f), 0600u) << f;
    EXPECT_EQ(mode_of(backups() / (f + ".sha256")), 0600u) << f;
    EXPECT_EQ(mode_of(backups() / (f + ".counts")), 0600u) << f;
  }
}

}  // namespace
}  // namespace replagent::test
