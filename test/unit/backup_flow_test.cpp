// The backup flows with fake effects: source selection, the steps of a backup and what a
// failure leaves behind, the lock, --list. Real files in a temporary directory.
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "fakes.hpp"
#include "roles/backup.hpp"
#include "roles/backup_dump.hpp"
#include "roles/backup_retry.hpp"
#include "roles/backup_source.hpp"
#include "roles/backup_store.hpp"

namespace replagent::roles {
namespace {

namespace fs = std::filesystem;
using fakes::exited;
using fakes::FakeClock;
using fakes::FakeProcessRunner;
using fakes::FakeResolver;
using fakes::TempDir;

// A server per address: its role, whether it answers, and the tables it holds.
struct FakeServer {
  bool in_recovery = false;
  std::string receiver;  // pg_stat_wal_receiver.status
  std::optional<agent::PgError> connect_error;
  std::vector<TableCount> tables;
  std::vector<std::string> other_databases;  // pg_database, besides the connected one
};

class ScriptedSession : public agent::PgSession {
 public:
  ScriptedSession(const FakeServer& s, std::vector<std::string>* log) : s_(s), log_(log) {}
  std::optional<agent::PgError> exec(const std::string& sql, agent::QueryResult* out) override {
    log_->push_back(sql);
    agent::QueryResult r;
    if (sql.find("pg_is_in_recovery") != std::string::npos) {
      r.rows.push_back({std::string(s_.in_recovery ? "true" : "false"), s_.receiver});
    } else if (sql.find("pg_export_snapshot") != std::string::npos) {
      r.rows.push_back({std::string("00000003-0000001B-1")});
    } else if (sql.find("query_to_xml") != std::string::npos) {
      for (const auto& t : s_.tables) r.rows.push_back({t.table, std::to_string(t.rows)});
    } else if (sql.find("pg_database") != std::string::npos) {
      for (const auto& d : s_.other_databases) r.rows.push_back({d});
    }
    if (out) *out = r;
    return std::nullopt;
  }
  std::optional<agent::PgError> exec_params(const std::string& sql, const std::vector<std::string>&,
                                            agent::QueryResult* out) override {
    return exec(sql, out);
  }
  std::string encrypt_password(const std::string&, const agent::Secret&) override { return ""; }

 private:
  FakeServer s_;
  std::vector<std::string>* log_;
};

class ScriptedPg : public agent::PgClient {
 public:
  std::map<std::string, FakeServer> servers;  // by hostaddr, or socket directory "*socket*"
  std::vector<agent::ConnParams> connects;
  std::vector<std::string> sql;

  agent::PingStatus ping(const agent::ConnParams&) override { return agent::PingStatus::kOk; }
  std::unique_ptr<agent::PgSession> connect(const agent::ConnParams& p, agent::PgError* e) override {
    connects.push_back(p);
    const std::string key = p.hostaddr.empty() ? "*socket*" : p.hostaddr;
    const auto it = servers.find(key);
    if (it == servers.end() || it->second.connect_error) {
      *e = it == servers.end() ? agent::PgError{"", "Connection refused"} : *it->second.connect_error;
      return nullptr;
    }
    return std::make_unique<ScriptedSession>(it->second, &sql);
  }
  std::optional<agent::SystemInfo> identify_system(const agent::ConnParams&, agent::PgError*) override {
    return std::nullopt;
  }
  std::optional<agent::PgError> ensure_physical_slot(const agent::ConnParams&, const std::string&,
                                                     bool*) override {
    return std::nullopt;
  }
  std::optional<agent::SlotState> read_physical_slot(const agent::ConnParams&, const std::string&,
                                                     agent::PgError*) override {
    return agent::SlotState{};
  }
  std::optional<agent::PgError> drop_physical_slot(const agent::ConnParams&,
                                                   const std::string&) override {
    return std::nullopt;
  }
};

constexpr const char* kService = "todo-db.default.svc.cluster.local";
constexpr const char* kPrimary = "todo-db-0.todo-db.default.svc.cluster.local";

class BackupFlow : public ::testing::Test {
 protected:
  BackupFlow() {
    config.pod.name = "todo-db-backup";
    config.pod.service = "todo-db";
    config.backup.dir = dir / "backups";
    config.backup.keep = 2;
    config.postgres.superuser_password = agent::Secret("s3cret");
    resolver.set(kService, {"10.0.0.10", "10.0.0.11", "10.0.0.12"});
    resolver.set(kPrimary, {"10.0.0.10"});
    pg.servers["10.0.0.10"] = FakeServer{false, "", std::nullopt, {{"public.todo", 3}}, {}};
    pg.servers["10.0.0.11"] = FakeServer{true, "startup", std::nullopt, {{"public.todo", 3}}, {}};
    pg.servers["10.0.0.12"] = FakeServer{true, "streaming", std::nullopt, {{"public.todo", 3}}, {}};
    // pg_dump writes its -f file; pg_restore --list accepts it.
    FakeProcessRunner::Script dump;
    dump.effect = [](const agent::ProcessSpec& spec) {
      std::ofstream(fakes::arg_after(spec, "-f")) << "PGDMP fake archive";
    };
    runner.script("pg_dump", dump);
  }

  BackupDeps deps() { return BackupDeps{resolver, pg, runner, clock, [this] { return now; }}; }
  std::vector<std::string> files() {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(config.backup.dir)) out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
  }

  TempDir dir;
  agent::Config config;
  FakeResolver resolver;
  ScriptedPg pg;
  FakeProcessRunner runner;
  FakeClock clock;
  WallTime now = *parse_backup_timestamp("20261125T171500Z");
};

TEST_F(BackupFlow, PicksTheStreamingReplica) {
  const auto choice = choose_backup_source(config, backup_target_of(config), resolver, pg);
  ASSERT_TRUE(choice.source) << choice.reason;
  EXPECT_EQ(choice.source->role, "replica");
  EXPECT_EQ(choice.source->address, "10.0.0.12");
  // The backup role (never the superuser) over TCP with a numeric address.
  ASSERT_FALSE(pg.connects.empty());
  EXPECT_EQ(pg.connects.back().user, "replagent_backup");
  EXPECT_EQ(pg.connects.back().hostaddr, "10.0.0.12");
  EXPECT_FALSE(pg.connects.back().replication);
}

TEST_F(BackupFlow, FallsBackToThePrimaryAndSaysWhy) {
  pg.servers["10.0.0.12"].receiver = "";
  pg.servers["10.0.0.11"].connect_error = agent::PgError{"28P01", "password authentication failed"};
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
  fail.result = exited(1, "pg_dump: error: could not write to output file: No space left on device");
  fail.effect = [](const agent::ProcessSpec& spec) {
    std::ofstream(fakes::arg_after(spec, "-f")) << "half";
  };
  FakeProcessRunner failing;
  failing.script("pg_dump", fail);
  const auto out = run_backup(config, BackupDeps{resolver, pg, failing, clock, [this] { return now; }});
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
  for (const char* f : {"todo-db-20261120T000000Z.dump", "todo-db-20261121T000000Z.dump",
                        "todo-db-20261122T000000Z.dump", "todo-db-20261122T000000Z.dump.sha256",
                        "todo-db-20261123T000000Z.dump.partial",  // a killed run
                        "todo-db-20261119T000000Z.dump.sha256",   // orphan companion
                        "todo-db-20261101T000000Z.dump.keep", "other-20261101T000000Z.dump",
                        "notes.txt"}) {
    std::ofstream(config.backup.dir + "/" + f) << "x";
  }
  const auto out = run_backup(config, deps());
  ASSERT_EQ(out.code, agent::ExitCode::kOk) << out.message;
  EXPECT_EQ(files(),
            (std::vector<std::string>{".lock", "notes.txt", "other-20261101T000000Z.dump",
                                      "todo-db-20261101T000000Z.dump.keep",
                                      "todo-db-20261122T000000Z.dump",
                                      "todo-db-20261122T000000Z.dump.sha256",
                                      "todo-db-20261125T171500Z.dump",
                                      "todo-db-20261125T171500Z.dump.counts",
                                      "todo-db-20261125T171500Z.dump.sha256"}));
  EXPECT_NE(out.message.find("kept 2, removed 2"), std::string::npos) << out.message;
}

TEST_F(BackupFlow, SameSecondWaitsForAFreeName) {
  fs::create_directories(config.backup.dir);
  std::ofstream(config.backup.dir + "/todo-db-20261125T171500Z.dump") << "x";
  std::ofstream(config.backup.dir + "/todo-db-20261125T171500Z.dump.sha256") << "x";
  int calls = 0;
  BackupDeps d{resolver, pg, runner, clock, [&] {
                 return now + std::chrono::seconds(calls++ > 0 ? 1 : 0);
               }};
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

// The log lines written while it lives (spdlog's default logger swapped for a string sink).
class CapturedLog {
 public:
  CapturedLog() : old_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    sink->set_pattern("%l %v");
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("captured", sink));
  }
  ~CapturedLog() { spdlog::set_default_logger(old_); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> old_;
};

std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.find(needle) != std::string::npos) out.push_back(line);
  return out;
}

// backup.database left at its default: `postgres`, the maintenance database, which the
// application rarely uses. A dump of it without a table protects nothing: a config error
// that names the setting and the databases that are there, and no backup is published.
TEST_F(BackupFlow, EmptyDefaultDatabaseIsAConfigErrorAndPublishesNothing) {
  for (auto& [address, server] : pg.servers) {
    server.tables.clear();
    server.other_databases = {"todo", "billing"};
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
  for (auto& [address, server] : pg.servers) server.tables.clear();
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
  for (auto& [address, server] : pg.servers) server.tables = {{"public.todo", 0}};
  CapturedLog again;
  now += std::chrono::hours(1);
  ASSERT_EQ(run_backup(config, deps()).code, agent::ExitCode::kOk);
  config.backup.database = "postgres";
  now += std::chrono::hours(1);
  ASSERT_EQ(run_backup(config, deps()).code, agent::ExitCode::kOk);
  EXPECT_TRUE(lines_with(again.text(), "warning ").empty()) << again.text();
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
  EXPECT_NE(out.message.find("backup.dir " + config.backup.dir), std::string::npos)
      << out.message;
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
  const auto out =
      run_backup(config, BackupDeps{resolver, pg, watching, clock, [this] { return now; }});
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
  pg.servers["*socket*"] = FakeServer{false, "", std::nullopt, {{"public.todo", 3}}, {}};
  auto out = run_restore_check(config, deps());
  EXPECT_EQ(out.code, agent::ExitCode::kOk) << out.message;
  EXPECT_NE(out.message.find("1 tables / 3 rows match"), std::string::npos) << out.message;
  // The temporary server listens on a unix socket only and is stopped again.
  const auto* start = runner.find("pg_ctl");
  ASSERT_NE(start, nullptr);
  EXPECT_NE(fakes::arg_after(*start, "-o").find("listen_addresses=''"), std::string::npos);
  EXPECT_EQ(runner.specs.back().args.back(), "stop");

  pg.servers["*socket*"].tables = {{"public.todo", 2}};
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
  const auto out = run_backup(config, BackupDeps{resolver, pg, r, clock, [this] { return now; }});
  ASSERT_EQ(out.code, agent::ExitCode::kOk) << out.message;
  ASSERT_EQ(r.count("pg_dump"), 2);
  for (const auto& spec : r.specs)
    if (spec.program == "pg_dump") EXPECT_EQ(dump_hostaddr(spec), "10.0.0.12");
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
  const auto out = run_backup(config, BackupDeps{resolver, pg, r, clock, [this] { return now; }});
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
  const auto out = run_backup(config, BackupDeps{resolver, pg, r, clock, [this] { return now; }});
  EXPECT_EQ(out.code, agent::ExitCode::kCloneFailed) << out.message;
  EXPECT_EQ(r.count("pg_dump"), kDumpAttemptsPerReplica);
  for (const auto& spec : r.specs)
    if (spec.program == "pg_dump") EXPECT_EQ(dump_hostaddr(spec), "10.0.0.12");
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
  const auto out = run_backup(config, BackupDeps{resolver, pg, r, clock, [this] { return now; }});
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
