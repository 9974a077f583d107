// roles::run_init driven through every branch with fakes: no servers, no DNS, no sleeping.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "agent/errors.hpp"
#include "agent/signals.hpp"
#include "roles/data_dir.hpp"
#include "roles/init.hpp"
#include "roles/pg_files.hpp"
#include "test/unit/fakes.hpp"

namespace replagent::roles {
namespace {

namespace fs = std::filesystem;
using agent::ExitCode;
using std::chrono::milliseconds;

constexpr const char* kPrimaryHost = "todo-db-0.todo-db.default.svc.cluster.local";
constexpr const char* kServiceHost = "todo-db.default.svc.cluster.local";
constexpr const char* kPrimaryAddr = "10.0.0.10";
constexpr std::uint64_t kSysid = 7300000000000000001ULL;
constexpr std::uint64_t kOtherSysid = 7300000000000000002ULL;

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every file under `dir` with its content, to prove "nothing was changed".
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    out[fs::relative(e.path(), dir).string()] = e.is_regular_file() ? read(e.path()) : "<dir>";
  }
  return out;
}

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

class InitFlow : public ::testing::Test {
 protected:
  void SetUp() override {
    agent::reset_stop_for_test();
    pgdata_ = tmp_ / "pgdata";
    config_.pod.name = "todo-db-1";
    config_.pod.namespace_ = "default";
    config_.postgres.data_dir = pgdata_;
    config_.postgres.bin_dir = "/usr/lib/postgresql/15/bin";
    config_.postgres.replication_password = agent::Secret("s3cret:pw");
    config_.init.wait_timeout = std::chrono::seconds(60);
    config_.init.termination_log = "";
  }
  void TearDown() override { agent::reset_stop_for_test(); }

  InitOutcome run() { return run_init(config_, InitDeps{resolver_, pg_, runner_, clock_}); }

  // The primary resolves at once, accepts connections and is cluster kSysid; pg_basebackup
  // writes a replica of it.
  void primary_is_up() {
    resolver_.set(kPrimaryHost, {kPrimaryAddr});
    pg_.set_system(kPrimaryAddr, kSysid);
    runner_.basebackup_creates(kSysid);
  }

  std::string staging() const { return staging_dir_for(pgdata_); }
  std::string run_dir() const { return run_dir_for(pgdata_); }

  fakes::TempDir tmp_;
  std::string pgdata_;
  agent::Config config_;
  fakes::FakeResolver resolver_;
  fakes::FakePgClient pg_;
  fakes::FakeProcessRunner runner_;
  fakes::FakeClock clock_;
};

// ---------------------------------------------------------------------------------------------
// Replica

TEST_F(InitFlow, ReplicaWithEmptyPgdataClones) {
  fs::create_directory(pgdata_);
  resolver_.set(kPrimaryHost, {kPrimaryAddr}, /*appear_after=*/3);
  pg_.script_ping(kPrimaryAddr, {agent::PingStatus::kRejected, agent::PingStatus::kRejected});
  pg_.set_system(kPrimaryAddr, kSysid);
  runner_.basebackup_creates(
      kSysid, {"pg_basebackup: initiating base backup", "    0/1234 kB (0%), 0/1 tablespace",
               " 1234/1234 kB (100%), 1/1 tablespace"});
  // What the child would find at run time: the passfile it is pointed at, 0600.
  bool passfile_ok = false;
  runner_.script("pg_verifybackup", {fakes::exited(0), {}, [&](const agent::ProcessSpec&) {
                                       const auto* bb = runner_.find("pg_basebackup");
                                       ASSERT_NE(bb, nullptr);
                                       const auto pf = bb->env.at("PGPASSFILE");
                                       struct stat st {};
                                       passfile_ok = ::stat(pf.c_str(), &st) == 0 &&
                                                     (st.st_mode & 0777) == 0600 &&
                                                     read(pf) == "*:*:*:replicator:s3cret\\:pw\n";
                                     }});

  const InitOutcome out = run();
  ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_TRUE(contains(out.message, "cloned")) << out.message;

  // DNS: NotFound three times, each followed by a backoff sleep; then the ping waits anew.
  EXPECT_EQ(resolver_.calls(kPrimaryHost), 4);
  const std::vector<milliseconds> sleeps = {milliseconds(200), milliseconds(400), milliseconds(800),
                                            milliseconds(200), milliseconds(400)};
  EXPECT_EQ(clock_.sleeps, sleeps);
  EXPECT_EQ(pg_.ping_calls.size(), 3u);
  EXPECT_EQ(pg_.ping_calls.front().hostaddr, kPrimaryAddr);

  ASSERT_EQ(pg_.slot_calls.size(), 1u);
  EXPECT_EQ(pg_.slot_calls[0].second, "todo_db_1");
  EXPECT_TRUE(pg_.slot_calls[0].first.replication);
  EXPECT_EQ(pg_.slot_calls[0].first.user, "replicator");

  const auto* bb = runner_.find("pg_basebackup");
  ASSERT_NE(bb, nullptr);
  EXPECT_EQ(fakes::arg_after(*bb, "-D"), staging());
  EXPECT_EQ(fakes::arg_after(*bb, "-S"), "todo_db_1");
  EXPECT_EQ(fakes::arg_after(*bb, "-X"), "stream");
  EXPECT_EQ(bb->search_dir, "/usr/lib/postgresql/15/bin");
  EXPECT_EQ(bb->env.at("PGPASSFILE"), (fs::path(run_dir()) / "pgpass").string());
  const std::string conninfo = fakes::arg_after(*bb, "-d");
  EXPECT_TRUE(contains(conninfo, "hostaddr='10.0.0.10'")) << conninfo;
  EXPECT_TRUE(contains(conninfo, "application_name='todo-db-1'")) << conninfo;
  for (const auto& a : bb->args) EXPECT_FALSE(contains(a, "s3cret")) << a;

  const auto* verify = runner_.find("pg_verifybackup");
  ASSERT_NE(verify, nullptr);
  EXPECT_EQ(verify->args, std::vector<std::string>{staging()});
  EXPECT_TRUE(passfile_ok);

  const auto st = inspect_data_dir(pgdata_);
  EXPECT_EQ(st.kind, DataDirKind::kReplica);
  EXPECT_EQ(st.system_identifier, kSysid);
  EXPECT_TRUE(fs::exists(fs::path(pgdata_) / "standby.signal"));
  const fs::path passfile = fs::path(pgdata_) / kPassFile;
  ASSERT_TRUE(fs::exists(passfile));
  EXPECT_EQ(fs::status(passfile).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(read(passfile), "*:*:*:replicator:s3cret\\:pw\n");
  const std::string auto_conf = read(fs::path(pgdata_) / "postgresql.auto.conf");
  EXPECT_TRUE(contains(auto_conf, "primary_conninfo = 'host=''todo-db-0.todo-db.default.svc"))
      << auto_conf;
  EXPECT_TRUE(contains(auto_conf, "application_name=''todo-db-1''")) << auto_conf;
  EXPECT_TRUE(contains(auto_conf, "passfile=''" + passfile.string() + "''")) << auto_conf;
  EXPECT_FALSE(contains(auto_conf, "hostaddr")) << "not pinned by default: " << auto_conf;
  EXPECT_TRUE(contains(auto_conf, "primary_slot_name = 'todo_db_1'")) << auto_conf;
  EXPECT_TRUE(contains(read(fs::path(pgdata_) / "postgresql.conf"), "include_if_exists"));
  EXPECT_TRUE(fs::exists(fs::path(pgdata_) / kIncludeFile));

  EXPECT_FALSE(fs::exists(staging()));
  EXPECT_FALSE(fs::exists(run_dir()));
  EXPECT_FALSE(fs::exists(retired_dir_for(pgdata_)));
}

TEST_F(InitFlow, ReplicaPinsPrimaryAddressWhenAsked) {
  config_.init.pin_primary_address = true;
  primary_is_up();
  const InitOutcome out = run();
  ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_TRUE(contains(read(fs::path(pgdata_) / "postgresql.auto.conf"), "hostaddr=''10.0.0.10''"));
}

TEST_F(InitFlow, ReplicaSkipsVerifyWhenDisabled) {
  config_.init.verify = false;
  primary_is_up();
  const InitOutcome out = run();
  ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_EQ(runner_.count("pg_verifybackup"), 0);
  EXPECT_EQ(inspect_data_dir(pgdata_).kind, DataDirKind::kReplica);
}

TEST_F(InitFlow, DnsNeverResolvesTimesOut) {
  config_.init.wait_timeout = std::chrono::seconds(10);
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kTimedOut) << out.message;
  EXPECT_TRUE(contains(out.message, kPrimaryHost)) << out.message;
  EXPECT_TRUE(contains(out.message, "init.wait_timeout")) << out.message;
  // The headless Service is the set's name when pod.service is not set.
  EXPECT_TRUE(contains(out.message, "Service 'todo-db'")) << out.message;
  EXPECT_EQ(clock_.total_slept(), std::chrono::seconds(10));
  for (auto d : clock_.sleeps) EXPECT_LE(d, config_.init.backoff_max);
  EXPECT_GT(resolver_.calls(kPrimaryHost), 3);
  EXPECT_TRUE(pg_.ping_calls.empty());
  EXPECT_EQ(runner_.specs.size(), 0u);
  EXPECT_FALSE(fs::exists(pgdata_));
}

TEST_F(InitFlow, DnsServfailTimesOutBlamingTheDns) {
  // A failing DNS is no missing pod: the message says so, not "check the Service".
  config_.init.wait_timeout = std::chrono::seconds(10);
  resolver_.set_answer(kPrimaryHost, agent::DnsAnswer{agent::DnsStatus::kServerFailure, {},
                                                      "SERVFAIL from 10.96.0.10:53"});
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kTimedOut) << out.message;
  EXPECT_TRUE(contains(out.message, kPrimaryHost)) << out.message;
  EXPECT_TRUE(contains(out.message, "SERVFAIL from 10.96.0.10:53")) << out.message;
  EXPECT_TRUE(contains(out.message, "cluster DNS is failing")) << out.message;
  EXPECT_FALSE(contains(out.message, "Service 'todo-db'")) << out.message;
  EXPECT_EQ(clock_.total_slept(), std::chrono::seconds(10));
  EXPECT_FALSE(fs::exists(pgdata_));
}

TEST_F(InitFlow, PrimaryNeverAcceptsTimesOut) {
  config_.init.wait_timeout = std::chrono::seconds(30);
  resolver_.set(kPrimaryHost, {kPrimaryAddr});
  pg_.ping_default = agent::PingStatus::kNoResponse;
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kTimedOut) << out.message;
  EXPECT_TRUE(contains(out.message, kPrimaryHost)) << out.message;
  EXPECT_TRUE(contains(out.message, kPrimaryAddr)) << out.message;
  EXPECT_TRUE(contains(out.message, "no response")) << out.message;
  EXPECT_EQ(clock_.total_slept(), std::chrono::seconds(30));
  EXPECT_TRUE(pg_.identify_calls.empty());
  EXPECT_EQ(runner_.specs.size(), 0u);
}

TEST_F(InitFlow, AuthFailureIsACloneFailure) {
  resolver_.set(kPrimaryHost, {kPrimaryAddr});
  pg_.set_identify_error(kPrimaryAddr,
                         agent::PgError{"28P01",
                                        "FATAL:  password authentication failed for user "
                                        "\"replicator\""});
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kCloneFailed) << out.message;
  EXPECT_TRUE(contains(out.message, "replicator@")) << out.message;
  EXPECT_TRUE(contains(out.message, kPrimaryHost)) << out.message;
  EXPECT_TRUE(contains(out.message, "replication_password")) << out.message;
  EXPECT_FALSE(contains(out.message, "s3cret")) << out.message;
  EXPECT_TRUE(pg_.slot_calls.empty());
  EXPECT_EQ(runner_.specs.size(), 0u);
}

TEST_F(InitFlow, SlotFailureIsACloneFailure) {
  resolver_.set(kPrimaryHost, {kPrimaryAddr});
  pg_.set_system(kPrimaryAddr, kSysid);
  pg_.slot_error = agent::PgError{"53400", "all replication slots are in use"};
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kCloneFailed) << out.message;
  EXPECT_TRUE(contains(out.message, "todo_db_1")) << out.message;
  EXPECT_TRUE(contains(out.message, "all replication slots are in use")) << out.message;
  EXPECT_EQ(runner_.specs.size(), 0u);
}

TEST_F(InitFlow, BasebackupFailureRemovesStaging) {
  resolver_.set(kPrimaryHost, {kPrimaryAddr});
  pg_.set_system(kPrimaryAddr, kSysid);
  runner_.script("pg_basebackup",
                 {fakes::exited(1,
                                "pg_basebackup: error: could not send replication command\n"
                                "pg_basebackup: removing data directory\n"),
                  {},
                  [](const agent::ProcessSpec& spec) {
                    // A partial copy, as if the child died half-way.
                    fakes::make_fake_data_dir(fakes::arg_after(spec, "-D"), kSysid, false);
                  }});
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kCloneFailed) << out.message;
  EXPECT_TRUE(contains(out.message, "exited with status 1")) << out.message;
  // The cause, not pg_basebackup's cleanup line printed after it.
  EXPECT_TRUE(contains(out.message, "could not send replication command")) << out.message;
  EXPECT_FALSE(contains(out.message, "removing data directory")) << out.message;
  EXPECT_FALSE(fs::exists(staging()));
  EXPECT_FALSE(fs::exists(run_dir()));
  EXPECT_FALSE(fs::exists(pgdata_));
  EXPECT_EQ(runner_.count("pg_verifybackup"), 0);
}

TEST_F(InitFlow, VerifyFailurePromotesNothing) {
  fs::create_directory(pgdata_);
  primary_is_up();
  runner_.script("pg_verifybackup",
                 {fakes::exited(1,
                                "pg_verifybackup: error: \"base/1/1255\" has size 0 on disk "
                                "but size 8192 in the manifest"),
                  {},
                  {}});
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kCloneFailed) << out.message;
  EXPECT_TRUE(contains(out.message, "verification")) << out.message;
  EXPECT_TRUE(contains(out.message, "base/1/1255")) << out.message;
  EXPECT_EQ(inspect_data_dir(pgdata_).kind, DataDirKind::kEmpty);
  EXPECT_FALSE(fs::exists(staging()));
  EXPECT_FALSE(fs::exists(run_dir()));
}

TEST_F(InitFlow, CloneThatIsNotAReplicaIsRejected) {
  resolver_.set(kPrimaryHost, {kPrimaryAddr});
  pg_.set_system(kPrimaryAddr, kSysid);
  runner_.basebackup_creates(kOtherSysid);  // not what IDENTIFY_SYSTEM said
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kCloneFailed) << out.message;
  EXPECT_FALSE(fs::exists(pgdata_));
  EXPECT_FALSE(fs::exists(staging()));
}

TEST_F(InitFlow, ValidReplicaIsKeptWithoutClone) {
  fakes::make_fake_data_dir(pgdata_, kSysid, /*standby=*/true);
  resolver_.set(kPrimaryHost, {kPrimaryAddr});
  pg_.set_system(kPrimaryAddr, kSysid);
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_TRUE(contains(out.message, "no clone")) << out.message;
  EXPECT_EQ(runner_.count("pg_basebackup"), 0);
  EXPECT_EQ(runner_.specs.size(), static_cast<std::size_t>(runner_.count("pg_controldata")))
      << "nothing but reading the control file";
  EXPECT_TRUE(pg_.ping_calls.empty()) << "a restart does not wait for the primary";
  EXPECT_TRUE(pg_.slot_calls.empty());
  EXPECT_TRUE(clock_.sleeps.empty());
  const std::string auto_conf = read(fs::path(pgdata_) / "postgresql.auto.conf");
  EXPECT_TRUE(contains(auto_conf, "application_name=''todo-db-1''")) << auto_conf;
  EXPECT_FALSE(contains(auto_conf, "/tmp/x/pgpass")) << "pg_basebackup's conninfo replaced";
  EXPECT_EQ(inspect_data_dir(pgdata_).system_identifier, kSysid);
}

TEST_F(InitFlow, AReplicaKeepsAtLeastItsPrimarysMaxWalSenders) {
  // The primary's value as the replica's control file records it (pg_controldata): a hot
  // standby refuses fewer, and the chart's lower value reaches the replicas before the primary.
  for (const auto& [recorded, configured, written] :
       {std::tuple{20, 12, 20}, std::tuple{8, 12, 12}, std::tuple{0, 12, 12}}) {
    fs::remove_all(pgdata_);
    fakes::make_fake_data_dir(pgdata_, kSysid, /*standby=*/true);
    resolver_.set(kPrimaryHost, {kPrimaryAddr});
    pg_.set_system(kPrimaryAddr, kSysid);
    fakes::FakeProcessRunner::Script controldata;
    if (recorded > 0)
      controldata.lines = {"wal_level setting:                    replica",
                           "max_wal_senders setting:              " + std::to_string(recorded)};
    else
      controldata.result = fakes::exited(1);  // unreadable: the configured value
    runner_ = fakes::FakeProcessRunner();
    runner_.script("pg_controldata", controldata);
    config_.postgres.max_wal_senders = configured;
    const InitOutcome out = run();
    ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
    const std::string conf = read(fs::path(pgdata_) / kIncludeFile);
    EXPECT_TRUE(contains(conf, "max_wal_senders = " + std::to_string(written) + "\n"))
        << recorded << " recorded, " << configured << " configured:\n" << conf;
    ASSERT_NE(runner_.find("pg_controldata"), nullptr);
    EXPECT_EQ(runner_.find("pg_controldata")->args, (std::vector<std::string>{"-D", pgdata_}));
  }
}

TEST_F(InitFlow, ACloneKeepsAtLeastItsPrimarysMaxWalSenders) {
  primary_is_up();
  fakes::FakeProcessRunner::Script controldata;
  controldata.lines = {"max_wal_senders setting:              24"};
  runner_.script("pg_controldata", controldata);
  config_.postgres.max_wal_senders = 10;
  const InitOutcome out = run();
  ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
  const std::string conf = read(fs::path(pgdata_) / kIncludeFile);
  EXPECT_TRUE(contains(conf, "max_wal_senders = 24\n")) << conf;
}

// The same for every setting a hot standby needs at least at its primary's value, as
// pg_controldata prints them: a lowered postgres.parameters value (or one not set at all,
// which leaves the clone's postgresql.conf value) reaches the replicas before the primary.
TEST_F(InitFlow, AReplicaKeepsAtLeastItsPrimarysValueOfEachStandbyMinimum) {
  const std::vector<std::string> controldata_text = {
      "pg_control version number:            1300",
      "wal_level setting:                    replica",
      "wal_log_hints setting:                on",
      "max_connections setting:              300",
      "max_worker_processes setting:         16",
      "max_wal_senders setting:              20",
      "max_prepared_xacts setting:           10",
      "max_locks_per_xact setting:           128",
      "track_commit_timestamp setting:       off"};
  struct Case {
    std::map<std::string, std::string> configured;
    std::map<std::string, std::string> written;
  };
  const Case cases[] = {
      // Lower than the primary's: raised to it.
      {{{"max_connections", "100"}, {"max_worker_processes", "8"},
        {"max_prepared_transactions", "0"}, {"max_locks_per_transaction", "64"}},
       {{"max_connections", "300"}, {"max_worker_processes", "16"},
        {"max_prepared_transactions", "10"}, {"max_locks_per_transaction", "128"}}},
      // Higher: kept.
      {{{"max_connections", "500"}, {"max_worker_processes", "32"},
        {"max_prepared_transactions", "20"}, {"max_locks_per_transaction", "256"}},
       {{"max_connections", "500"}, {"max_worker_processes", "32"},
        {"max_prepared_transactions", "20"}, {"max_locks_per_transaction", "256"}}},
      // Not set: the primary's, and other parameters untouched.
      {{{"work_mem", "64MB"}},
       {{"max_connections", "300"}, {"max_worker_processes", "16"},
        {"max_prepared_transactions", "10"}, {"max_locks_per_transaction", "128"},
        {"work_mem", "64MB"}}},
  };
  for (const bool clone : {false, true}) {
    for (const auto& c : cases) {
      fs::remove_all(pgdata_);
      runner_ = fakes::FakeProcessRunner();
      resolver_.set(kPrimaryHost, {kPrimaryAddr});
      pg_.set_system(kPrimaryAddr, kSysid);
      if (clone) {
        primary_is_up();
      } else {
        fakes::make_fake_data_dir(pgdata_, kSysid, /*standby=*/true);
      }
      fakes::FakeProcessRunner::Script controldata;
      controldata.lines = controldata_text;
      runner_.script("pg_controldata", controldata);
      config_.postgres.parameters = c.configured;
      const InitOutcome out = run();
      ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
      const std::string conf = read(fs::path(pgdata_) / kIncludeFile);
      for (const auto& [name, value] : c.written)
        EXPECT_TRUE(contains(conf, name + " = '" + value + "'\n"))
            << (clone ? "clone: " : "kept: ") << name << " = " << value << " expected in\n" << conf;
      EXPECT_TRUE(contains(conf, "max_wal_senders = 20\n")) << conf;
    }
  }
}

TEST_F(InitFlow, ValidReplicaIsKeptWhenPrimaryIsUnreachable) {
  fakes::make_fake_data_dir(pgdata_, kSysid, /*standby=*/true);
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_EQ(runner_.specs.size(), static_cast<std::size_t>(runner_.count("pg_controldata")))
      << "nothing but reading the control file";
  EXPECT_TRUE(clock_.sleeps.empty());
  EXPECT_EQ(resolver_.calls(kPrimaryHost), 1);
}

TEST_F(InitFlow, ValidReplicaWithAHealthySlotIsKept) {
  fakes::make_fake_data_dir(pgdata_, kSysid, /*standby=*/true);
  resolver_.set(kPrimaryHost, {kPrimaryAddr});
  pg_.set_system(kPrimaryAddr, kSysid);
  const InitOutcome out = run();
  ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_EQ(out.action, "kept");
  EXPECT_EQ(out.reason, "");
  ASSERT_EQ(pg_.read_slot_calls.size(), 1u);
  EXPECT_EQ(pg_.read_slot_calls[0].second, "todo_db_1");
  EXPECT_TRUE(pg_.read_slot_calls[0].first.replication);
  EXPECT_TRUE(pg_.drop_slot_calls.empty());
}

TEST_F(InitFlow, ReplicaWhoseSlotLostItsWalIsReclonedAndSaysWhy) {
  fakes::make_fake_data_dir(pgdata_, kSysid, /*standby=*/true);
  std::ofstream(fs::path(pgdata_) / "old-marker") << "old";
  primary_is_up();
  pg_.slot_state = agent::SlotState{true, std::nullopt};  // invalidated
  const InitOutcome out = run();
  ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_EQ(out.action, "reclone");
  EXPECT_EQ(out.reason, "slot_wal_removed");
  EXPECT_TRUE(contains(out.message, "re-cloned")) << out.message;
  EXPECT_TRUE(contains(out.message, "todo_db_1")) << out.message;
  EXPECT_TRUE(contains(out.message, "max_slot_wal_keep_size")) << out.message;
  // The invalidated slot is replaced before the clone streams through it.
  ASSERT_EQ(pg_.drop_slot_calls.size(), 1u);
  EXPECT_EQ(pg_.drop_slot_calls[0].second, "todo_db_1");
  EXPECT_EQ(pg_.slot_calls.size(), 1u);
  EXPECT_EQ(runner_.count("pg_basebackup"), 1);
  EXPECT_FALSE(fs::exists(fs::path(pgdata_) / "old-marker"));
  EXPECT_EQ(inspect_data_dir(pgdata_).kind, DataDirKind::kReplica);
  EXPECT_FALSE(fs::exists(retired_dir_for(pgdata_)));
}

TEST_F(InitFlow, ReplicaWhoseSlotIsMissingIsRecloned) {
  fakes::make_fake_data_dir(pgdata_, kSysid, /*standby=*/true);
  primary_is_up();
  pg_.slot_state = agent::SlotState{};  // no such slot
  const InitOutcome out = run();
  ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_EQ(out.action, "reclone");
  EXPECT_EQ(out.reason, "slot_missing");
  EXPECT_TRUE(pg_.drop_slot_calls.empty());
  EXPECT_EQ(runner_.count("pg_basebackup"), 1);
}

TEST_F(InitFlow, FailedRecloneKeepsTheOldReplicaData) {
  fakes::make_fake_data_dir(pgdata_, kSysid, /*standby=*/true);
  std::ofstream(fs::path(pgdata_) / "old-marker") << "old";
  resolver_.set(kPrimaryHost, {kPrimaryAddr});
  pg_.set_system(kPrimaryAddr, kSysid);
  pg_.slot_state = agent::SlotState{true, std::nullopt};
  runner_.script("pg_basebackup",
                 {fakes::exited(1, "pg_basebackup: error: No space left on device\n"), {}, {}});
  const auto before = snapshot(pgdata_);
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kCloneFailed) << out.message;
  EXPECT_EQ(snapshot(pgdata_), before) << "the old data stays until a clone is complete";
  EXPECT_FALSE(fs::exists(staging()));
}

TEST_F(InitFlow, SlotThatCannotBeReadKeepsTheReplica) {
  fakes::make_fake_data_dir(pgdata_, kSysid, /*standby=*/true);
  resolver_.set(kPrimaryHost, {kPrimaryAddr});
  pg_.set_system(kPrimaryAddr, kSysid);
  pg_.read_slot_error = agent::PgError{"", "server closed the connection unexpectedly"};
  const InitOutcome out = run();
  ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_EQ(out.action, "kept");
  EXPECT_EQ(runner_.count("pg_basebackup"), 0);
}

TEST_F(InitFlow, ReplicaOfAnotherClusterIsRefused) {
  fakes::make_fake_data_dir(pgdata_, kOtherSysid, /*standby=*/true);
  resolver_.set(kPrimaryHost, {kPrimaryAddr});
  pg_.set_system(kPrimaryAddr, kSysid);
  const auto before = snapshot(pgdata_);
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kUnsafeData) << out.message;
  EXPECT_TRUE(contains(out.message, std::to_string(kOtherSysid))) << out.message;
  EXPECT_TRUE(contains(out.message, std::to_string(kSysid))) << out.message;
  EXPECT_TRUE(contains(out.message, "init.on_foreign_data=reclone")) << out.message;
  EXPECT_EQ(snapshot(pgdata_), before);
  EXPECT_EQ(runner_.specs.size(), static_cast<std::size_t>(runner_.count("pg_controldata")))
      << "nothing but reading the control file";
}

TEST_F(InitFlow, ReplicaOfAnotherClusterIsReclonedWhenAllowed) {
  config_.init.on_foreign_data = agent::OnForeignData::kReclone;
  fakes::make_fake_data_dir(pgdata_, kOtherSysid, /*standby=*/true);
  std::ofstream(fs::path(pgdata_) / "old-marker") << "old";
  primary_is_up();
  const InitOutcome out = run();
  ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_EQ(runner_.count("pg_basebackup"), 1);
  const auto st = inspect_data_dir(pgdata_);
  EXPECT_EQ(st.kind, DataDirKind::kReplica);
  EXPECT_EQ(st.system_identifier, kSysid);
  EXPECT_FALSE(fs::exists(fs::path(pgdata_) / "old-marker"));
  EXPECT_FALSE(fs::exists(retired_dir_for(pgdata_)));
  EXPECT_FALSE(fs::exists(staging()));
  EXPECT_FALSE(fs::exists(run_dir()));
}

TEST_F(InitFlow, PrimaryDataInAReplicaVolumeIsRefused) {
  fakes::make_fake_data_dir(pgdata_, kSysid, /*standby=*/false);
  primary_is_up();
  const auto before = snapshot(pgdata_);
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kUnsafeData) << out.message;
  EXPECT_TRUE(contains(out.message, "primary")) << out.message;
  EXPECT_TRUE(contains(out.message, "init.on_foreign_data=reclone")) << out.message;
  EXPECT_EQ(snapshot(pgdata_), before);
  EXPECT_EQ(runner_.specs.size(), static_cast<std::size_t>(runner_.count("pg_controldata")))
      << "nothing but reading the control file";
  EXPECT_TRUE(resolver_.queries.empty());
}

TEST_F(InitFlow, UnknownContentsAreRefused) {
  fs::create_directory(pgdata_);
  std::ofstream(fs::path(pgdata_) / "lost+found.txt") << "x";
  primary_is_up();
  const auto before = snapshot(pgdata_);
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kUnsafeData) << out.message;
  EXPECT_TRUE(contains(out.message, "PG_VERSION")) << out.message;
  EXPECT_TRUE(contains(out.message, pgdata_)) << out.message;
  EXPECT_EQ(snapshot(pgdata_), before);
  EXPECT_EQ(runner_.specs.size(), static_cast<std::size_t>(runner_.count("pg_controldata")))
      << "nothing but reading the control file";
}

TEST_F(InitFlow, LeftoversAreRemovedFirst) {
  fakes::make_fake_data_dir(staging(), kOtherSysid, /*standby=*/true);
  fs::create_directory(run_dir());
  std::ofstream(fs::path(run_dir()) / "pgpass") << "stale";
  primary_is_up();
  bool clean_at_first_query = false;
  resolver_.on_query = [&](const std::string&) {
    if (resolver_.queries.size() == 1)
      clean_at_first_query = !fs::exists(staging()) && !fs::exists(run_dir());
  };
  const InitOutcome out = run();
  ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_TRUE(clean_at_first_query);
  EXPECT_EQ(inspect_data_dir(pgdata_).system_identifier, kSysid);
  EXPECT_FALSE(fs::exists(staging()));
  EXPECT_FALSE(fs::exists(run_dir()));
}

TEST_F(InitFlow, FormerPrimaryIsReclonedWhenAllowed) {
  config_.init.on_foreign_data = agent::OnForeignData::kReclone;
  fakes::make_fake_data_dir(pgdata_, kOtherSysid, /*standby=*/false);
  primary_is_up();
  const InitOutcome out = run();
  ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
  const auto st = inspect_data_dir(pgdata_);
  EXPECT_EQ(st.kind, DataDirKind::kReplica);
  EXPECT_EQ(st.system_identifier, kSysid);
  EXPECT_FALSE(fs::exists(retired_dir_for(pgdata_)));
}

TEST_F(InitFlow, TrailingSlashInPgdata) {
  const std::string plain = pgdata_;
  config_.postgres.data_dir = plain + "/";
  primary_is_up();
  const InitOutcome out = run();
  ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_EQ(fakes::arg_after(*runner_.find("pg_basebackup"), "-D"), staging_dir_for(plain));
  EXPECT_EQ(inspect_data_dir(plain).kind, DataDirKind::kReplica);
  EXPECT_TRUE(contains(read(fs::path(plain) / "postgresql.auto.conf"),
                       "passfile=''" + plain + "/replagent.pgpass''"));
  EXPECT_FALSE(fs::exists(staging_dir_for(plain)));
  EXPECT_FALSE(fs::exists(run_dir_for(plain)));
}

TEST_F(InitFlow, StopWhileWaitingForDns) {
  resolver_.on_query = [](const std::string&) { agent::request_stop_for_test(); };
  const InitOutcome out = run();
  agent::reset_stop_for_test();
  EXPECT_EQ(out.code, ExitCode::kFailed) << out.message;
  EXPECT_TRUE(contains(out.message, "stopped")) << out.message;
  EXPECT_EQ(resolver_.calls(kPrimaryHost), 1);
  EXPECT_TRUE(clock_.sleeps.empty());
}

TEST_F(InitFlow, StoppedCloneIsCleanedUp) {
  resolver_.set(kPrimaryHost, {kPrimaryAddr});
  pg_.set_system(kPrimaryAddr, kSysid);
  agent::ProcessResult stopped;
  stopped.end = agent::ProcessResult::End::kStopped;
  stopped.error = "SIGTERM";
  runner_.script("pg_basebackup", {stopped, {}, [](const agent::ProcessSpec& spec) {
                                     fakes::make_fake_data_dir(fakes::arg_after(spec, "-D"), kSysid,
                                                               true);
                                   }});
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kFailed) << out.message;
  EXPECT_TRUE(contains(out.message, "interrupted")) << out.message;
  EXPECT_FALSE(fs::exists(pgdata_));
  EXPECT_FALSE(fs::exists(staging()));
  EXPECT_FALSE(fs::exists(run_dir()));
}

TEST_F(InitFlow, BadConnectionParametersAreAUsageError) {
  resolver_.set(kPrimaryHost, {kPrimaryAddr});
  pg_.ping_default = agent::PingStatus::kNoAttempt;
  try {
    run();
    FAIL() << "expected AgentError";
  } catch (const agent::AgentError& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    EXPECT_TRUE(contains(e.what(), "replicator@" + std::string(kPrimaryHost))) << e.what();
  }
  EXPECT_TRUE(clock_.sleeps.empty());
}

// ---------------------------------------------------------------------------------------------
// Primary

class InitPrimaryFlow : public InitFlow {
 protected:
  void SetUp() override {
    InitFlow::SetUp();
    config_.pod.name = "todo-db-0";
    config_.postgres.superuser_password = agent::Secret("super:pw");
  }
};

TEST_F(InitPrimaryFlow, ExistingDataIsRefreshedOnly) {
  fakes::make_fake_data_dir(pgdata_, kSysid, /*standby=*/false);
  const std::string base_before = read(fs::path(pgdata_) / "base" / "1" / "1255");
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_TRUE(contains(out.message, std::to_string(kSysid))) << out.message;
  EXPECT_TRUE(contains(out.message, "roles in step")) << out.message;
  // No initdb: a temporary server on the data directory, on a socket in the private run
  // directory with its own pg_hba, to bring the roles in step; then stopped.
  ASSERT_EQ(runner_.specs.size(), 2u);
  EXPECT_EQ(runner_.count("initdb"), 0);
  EXPECT_EQ(runner_.specs[0].args.back(), "start");
  EXPECT_EQ(fakes::arg_after(runner_.specs[0], "-D"), pgdata_);
  EXPECT_TRUE(contains(fakes::arg_after(runner_.specs[0], "-o"), "listen_addresses=''"));
  EXPECT_TRUE(contains(fakes::arg_after(runner_.specs[0], "-o"), "hba_file="));
  EXPECT_EQ(runner_.specs[1].args.back(), "stop");
  EXPECT_TRUE(runner_.specs[1].runs_while_stopping);
  ASSERT_EQ(pg_.connect_calls.size(), 1u);
  EXPECT_EQ(pg_.connect_calls[0].host, run_dir());
  EXPECT_FALSE(fs::exists(run_dir()));
  EXPECT_TRUE(fs::exists(fs::path(pgdata_) / kIncludeFile));
  EXPECT_TRUE(contains(read(fs::path(pgdata_) / "postgresql.conf"), "include_if_exists"));
  EXPECT_TRUE(contains(read(fs::path(pgdata_) / "pg_hba.conf"), "\"replicator\""));
  EXPECT_EQ(read(fs::path(pgdata_) / "base" / "1" / "1255"), base_before);
  EXPECT_EQ(inspect_data_dir(pgdata_).kind, DataDirKind::kPrimary);

  // A second start changes nothing more in the data directory.
  const auto after_first = snapshot(pgdata_);
  EXPECT_EQ(run().code, ExitCode::kOk);
  EXPECT_EQ(snapshot(pgdata_), after_first);
}

TEST_F(InitPrimaryFlow, EmptyWhileAPeerHoldsDataIsRefused) {
  fs::create_directory(pgdata_);
  resolver_.set(kServiceHost, {"10.0.0.11", "10.0.0.12"});
  pg_.set_system("10.0.0.12", kSysid, 0x16B374D848ULL);
  runner_.initdb_creates(kOtherSysid);
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kUnsafeData) << out.message;
  EXPECT_TRUE(contains(out.message, "10.0.0.12:5432")) << out.message;
  EXPECT_TRUE(contains(out.message, std::to_string(kSysid))) << out.message;
  EXPECT_TRUE(contains(out.message, "16/B374D848")) << out.message;
  EXPECT_TRUE(contains(out.message, "init.allow_empty_primary")) << out.message;
  EXPECT_EQ(pg_.identify_calls.size(), 2u);
  EXPECT_EQ(runner_.count("initdb"), 0);
  EXPECT_EQ(inspect_data_dir(pgdata_).kind, DataDirKind::kEmpty);
}

TEST_F(InitPrimaryFlow, RefusalNamesThePeerPod) {
  fs::create_directory(pgdata_);
  resolver_.set(kServiceHost, {"10.0.0.11"});
  pg_.set_system("10.0.0.11", kSysid, 0x16B374D848ULL, "todo-db-1");
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kUnsafeData) << out.message;
  EXPECT_TRUE(contains(out.message, "peer todo-db-1 (10.0.0.11:5432)")) << out.message;
  EXPECT_TRUE(contains(out.message, "16/B374D848")) << out.message;
}

TEST_F(InitPrimaryFlow, AllowEmptyPrimaryRunsInitdb) {
  config_.init.allow_empty_primary = true;
  resolver_.set(kServiceHost, {"10.0.0.12"});
  pg_.set_system("10.0.0.12", kSysid);
  runner_.initdb_creates(kOtherSysid);
  const InitOutcome out = run();
  ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_TRUE(contains(out.message, std::to_string(kOtherSysid))) << out.message;
  EXPECT_TRUE(resolver_.queries.empty()) << "peers are not asked when allowed";

  ASSERT_EQ(runner_.specs.size(), 3u);
  const auto& initdb = runner_.specs[0];
  EXPECT_EQ(initdb.program, "initdb");
  EXPECT_EQ(fakes::arg_after(initdb, "-D"), staging());
  EXPECT_EQ(fakes::arg_after(initdb, "-U"), "postgres");
  EXPECT_NE(std::find(initdb.args.begin(), initdb.args.end(), "--data-checksums"),
            initdb.args.end());
  for (const auto& a : initdb.args) EXPECT_FALSE(contains(a, "super:pw")) << a;
  EXPECT_EQ(runner_.specs[1].program, "pg_ctl");
  EXPECT_EQ(runner_.specs[1].args.back(), "start");
  EXPECT_EQ(fakes::arg_after(runner_.specs[1], "-D"), staging());
  EXPECT_TRUE(contains(fakes::arg_after(runner_.specs[1], "-o"), "listen_addresses=''"));
  EXPECT_EQ(runner_.specs[2].program, "pg_ctl");
  EXPECT_EQ(runner_.specs[2].args.back(), "stop");

  ASSERT_EQ(pg_.connect_calls.size(), 1u);
  EXPECT_EQ(pg_.connect_calls[0].host, run_dir()) << "unix socket in the private run dir";
  EXPECT_EQ(pg_.connect_calls[0].user, "postgres");
  // Each managed role: the server builds the statement (quoting the name and the verifier),
  // then it runs; the monitor and backup roles get their predefined roles.
  std::string all;
  for (const auto& s : pg_.sql) all += s + "\n";
  for (const auto& s : pg_.sql) {
    EXPECT_FALSE(contains(s, "s3cret")) << "a SCRAM verifier, not the password: " << s;
    EXPECT_FALSE(contains(s, "super:pw")) << s;
  }
  EXPECT_TRUE(contains(all, "CREATE ROLE \"replicator\" WITH LOGIN REPLICATION")) << all;
  EXPECT_TRUE(contains(all, "CREATE ROLE \"postgres\" WITH SUPERUSER PASSWORD 'SCRAM")) << all;
  EXPECT_TRUE(contains(all, "CREATE ROLE \"replagent_monitor\" WITH LOGIN NOREPLICATION")) << all;
  EXPECT_TRUE(contains(all, "GRANT \"pg_monitor\" TO \"replagent_monitor\"")) << all;
  EXPECT_TRUE(contains(all, "CREATE ROLE \"replagent_backup\" WITH LOGIN NOREPLICATION BYPASSRLS"))
      << all;
  EXPECT_TRUE(contains(all, "GRANT \"pg_read_all_data\" TO \"replagent_backup\"")) << all;
  EXPECT_TRUE(contains(all, "GRANT \"pg_read_all_stats\" TO \"replagent_backup\"")) << all;
  EXPECT_FALSE(contains(all, "replagent_monitor\" WITH LOGIN NOREPLICATION NOBYPASSRLS "
                             "NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT PASSWORD"))
      << "no monitor password configured: none set";

  const auto st = inspect_data_dir(pgdata_);
  EXPECT_EQ(st.kind, DataDirKind::kPrimary);
  EXPECT_EQ(st.system_identifier, kOtherSysid);
  EXPECT_TRUE(fs::exists(fs::path(pgdata_) / kIncludeFile));
  EXPECT_TRUE(contains(read(fs::path(pgdata_) / "pg_hba.conf"), "# BEGIN replagent"));
  EXPECT_FALSE(fs::exists(staging()));
  EXPECT_FALSE(fs::exists(run_dir()));
}

TEST_F(InitPrimaryFlow, FirstStartOfTheSetRunsInitdb) {
  // No peer answers (the Service has no other pod yet): an ordinary first start.
  resolver_.set(kServiceHost, {"10.0.0.10"});
  runner_.initdb_creates(kSysid);
  const InitOutcome out = run();
  ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_EQ(resolver_.calls(kServiceHost), 1);
  EXPECT_EQ(runner_.count("initdb"), 1);
  EXPECT_EQ(inspect_data_dir(pgdata_).kind, DataDirKind::kPrimary);
}

TEST_F(InitPrimaryFlow, PeerLookupFailingForTheWholeWaitIsRefused) {
  // SERVFAIL for the headless Service says nothing about the peers: no blind initdb.
  config_.init.wait_timeout = std::chrono::seconds(10);
  resolver_.set_answer(kServiceHost, agent::DnsAnswer{agent::DnsStatus::kServerFailure, {},
                                                      "SERVFAIL from 10.96.0.10:53"});
  runner_.initdb_creates(kSysid);
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kUnsafeData) << out.message;
  EXPECT_TRUE(contains(out.message, kServiceHost)) << out.message;
  EXPECT_TRUE(contains(out.message, "SERVFAIL")) << out.message;
  EXPECT_TRUE(contains(out.message, "init.allow_empty_primary")) << out.message;
  EXPECT_EQ(clock_.total_slept(), std::chrono::seconds(10));
  EXPECT_GT(resolver_.calls(kServiceHost), 3);
  EXPECT_EQ(runner_.count("initdb"), 0);
}

TEST_F(InitPrimaryFlow, PeerLookupTimeoutThenNoPeersRunsInitdb) {
  // Timeouts first, then a definite NXDOMAIN: the first start of the set goes on.
  resolver_.set_answer(kServiceHost,
                       agent::DnsAnswer{agent::DnsStatus::kTimeout, {}, "no answer"});
  resolver_.on_query = [&](const std::string& name) {
    if (name == kServiceHost && resolver_.calls(kServiceHost) == 3) {
      resolver_.set_answer(kServiceHost, agent::DnsAnswer{agent::DnsStatus::kNotFound, {}, ""});
    }
  };
  runner_.initdb_creates(kSysid);
  const InitOutcome out = run();
  ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_EQ(resolver_.calls(kServiceHost), 3);
  EXPECT_EQ(runner_.count("initdb"), 1);
}

TEST_F(InitPrimaryFlow, InitdbFailureLeavesNothing) {
  runner_.script("initdb", {fakes::exited(1, "initdb: error: invalid locale settings"),
                            {},
                            [](const agent::ProcessSpec& spec) {
                              fakes::make_fake_data_dir(fakes::arg_after(spec, "-D"), kSysid,
                                                        false);
                            }});
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kFailed) << out.message;
  EXPECT_TRUE(contains(out.message, "invalid locale settings")) << out.message;
  EXPECT_EQ(runner_.count("pg_ctl"), 0);
  EXPECT_FALSE(fs::exists(pgdata_));
  EXPECT_FALSE(fs::exists(staging()));
  EXPECT_FALSE(fs::exists(run_dir()));
}

TEST_F(InitPrimaryFlow, RoleCreationFailureStopsTheServerAndLeavesNothing) {
  runner_.initdb_creates(kSysid);
  pg_.sql_error = agent::PgError{"42501", "permission denied to create role"};
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kFailed) << out.message;
  EXPECT_TRUE(contains(out.message, "permission denied")) << out.message;
  ASSERT_FALSE(runner_.specs.empty());
  EXPECT_EQ(runner_.specs.back().program, "pg_ctl");
  EXPECT_EQ(runner_.specs.back().args.back(), "stop");
  EXPECT_FALSE(fs::exists(pgdata_));
  EXPECT_FALSE(fs::exists(staging()));
}

// The application's role (login, nothing else) and database (owned by it): created through
// statements the server builds, so it quotes the names; on every start, new or existing data.
TEST_F(InitPrimaryFlow, AppRoleAndDatabaseAreCreatedOnEveryStart) {
  config_.postgres.app_user = "todo";
  config_.postgres.app_database = "todo_data";
  config_.postgres.app_password = agent::Secret("app:pw");
  runner_.initdb_creates(kSysid);
  ASSERT_EQ(run().code, ExitCode::kOk);
  std::string all;
  for (const auto& s : pg_.sql) all += s + "\n";
  EXPECT_FALSE(contains(all, "app:pw")) << all;
  EXPECT_TRUE(contains(all, "CREATE ROLE \"todo\" WITH LOGIN NOREPLICATION NOBYPASSRLS "
                            "NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT PASSWORD 'SCRAM-SHA-256"))
      << all;
  EXPECT_TRUE(contains(all, "CREATE DATABASE %I OWNER %I")) << all;
  EXPECT_TRUE(contains(all, "[todo_data] [todo]")) << all;
  // The database comes after the roles: its owner must exist.
  EXPECT_TRUE(contains(pg_.sql.back(), "CREATE DATABASE")) << pg_.sql.back();

  // An existing primary (a cluster from before the setting) gains them too.
  pg_.sql.clear();
  ASSERT_EQ(run().code, ExitCode::kOk);
  all.clear();
  for (const auto& s : pg_.sql) all += s + "\n";
  EXPECT_TRUE(contains(all, "CREATE ROLE \"todo\"")) << all;
  EXPECT_TRUE(contains(all, "[todo_data] [todo]")) << all;
}

TEST_F(InitPrimaryFlow, AppDatabaseWithoutAppUserIsTheSuperusers) {
  config_.postgres.app_database = "todo";
  runner_.initdb_creates(kSysid);
  ASSERT_EQ(run().code, ExitCode::kOk);
  std::string all;
  for (const auto& s : pg_.sql) all += s + "\n";
  EXPECT_TRUE(contains(all, "[todo] [postgres]")) << all;
  EXPECT_EQ(std::count_if(pg_.sql.begin(), pg_.sql.end(),
                          [](const std::string& s) { return contains(s, "CREATE ROLE %I"); }),
            4)
      << "no application role: " << all;
}

// Scripts run once, in name order, as the superuser on the temporary server's socket, in the
// application's database, while the new primary is still in staging; other files are skipped.
TEST_F(InitPrimaryFlow, InitScriptsRunInOrderOnANewPrimaryOnly) {
  const std::string dir = tmp_ / "initdb.d";
  fs::create_directories(dir + "/..2026_01_01");
  std::ofstream(dir + "/02-rows.sql") << "INSERT INTO t VALUES (1);\n";
  std::ofstream(dir + "/01-schema.sql") << "CREATE TABLE t (id int);\n";
  std::ofstream(dir + "/README.md") << "not a script\n";
  config_.init.scripts_dir = dir;
  config_.postgres.app_database = "todo";
  runner_.initdb_creates(kSysid);
  std::vector<std::string> staging_seen;
  runner_.script("psql", {fakes::exited(0), {}, [&](const agent::ProcessSpec&) {
                            staging_seen.push_back(fs::exists(staging()) ? "staging" : "pgdata");
                          }});
  ASSERT_EQ(run().code, ExitCode::kOk);
  std::vector<std::string> programs;
  std::vector<std::string> files;
  for (const auto& spec : runner_.specs) {
    programs.push_back(spec.program);
    if (spec.program == "psql") files.push_back(fakes::arg_after(spec, "-f"));
  }
  EXPECT_EQ(programs, (std::vector<std::string>{"initdb", "pg_ctl", "psql", "psql", "pg_ctl"}));
  EXPECT_EQ(files, (std::vector<std::string>{dir + "/01-schema.sql", dir + "/02-rows.sql"}));
  EXPECT_EQ(staging_seen, (std::vector<std::string>{"staging", "staging"}));
  const auto* psql = runner_.find("psql");
  ASSERT_NE(psql, nullptr);
  EXPECT_EQ(psql->search_dir, config_.postgres.bin_dir);
  EXPECT_EQ(psql->args[0], "-X");
  EXPECT_EQ(fakes::arg_after(*psql, "-v"), "ON_ERROR_STOP=1");
  EXPECT_EQ(fakes::arg_after(*psql, "-h"), run_dir());
  EXPECT_EQ(fakes::arg_after(*psql, "-p"), "5432");
  EXPECT_EQ(fakes::arg_after(*psql, "-U"), "postgres");
  EXPECT_EQ(fakes::arg_after(*psql, "-d"), "todo");
  EXPECT_EQ(inspect_data_dir(pgdata_).kind, DataDirKind::kPrimary);

  // A restart with data: the roles are refreshed, the scripts never run again.
  runner_.specs.clear();
  ASSERT_EQ(run().code, ExitCode::kOk);
  EXPECT_EQ(runner_.count("psql"), 0);
  EXPECT_EQ(runner_.count("pg_ctl"), 2);
}

TEST_F(InitPrimaryFlow, FailingInitScriptFailsInitAndLeavesNothing) {
  const std::string dir = tmp_ / "initdb.d";
  fs::create_directories(dir);
  std::ofstream(dir + "/01-schema.sql") << "CREATE TABLE t (id int);\n";
  std::ofstream(dir + "/02-bad.sql") << "bogus;\n";
  std::ofstream(dir + "/03-never.sql") << "SELECT 1;\n";
  config_.init.scripts_dir = dir;
  runner_.initdb_creates(kSysid);
  runner_.script("psql", {fakes::exited(0), {}, nullptr});
  runner_.script("psql", {fakes::exited(3, "psql:" + dir + "/02-bad.sql:1: ERROR:  syntax error "
                                               "at or near \"bogus\"\nLINE 1: bogus;\n        ^"),
                          {}, nullptr});
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kFailed) << out.message;
  EXPECT_TRUE(contains(out.message, "02-bad.sql")) << out.message;
  EXPECT_TRUE(contains(out.message, "syntax error at or near")) << out.message;
  EXPECT_EQ(runner_.count("psql"), 2) << "no script after the failing one";
  EXPECT_EQ(fakes::arg_after(runner_.specs[2], "-d"), "postgres") << "no application database";
  ASSERT_FALSE(runner_.specs.empty());
  EXPECT_EQ(runner_.specs.back().args.back(), "stop");
  EXPECT_FALSE(fs::exists(pgdata_));
  EXPECT_FALSE(fs::exists(staging()));
  EXPECT_FALSE(fs::exists(run_dir()));
}

TEST_F(InitPrimaryFlow, UnreadableScriptsDirIsAUsageErrorBeforeInitdb) {
  config_.init.scripts_dir = tmp_ / "no-such-dir";
  try {
    run();
    FAIL() << "expected AgentError";
  } catch (const agent::AgentError& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    EXPECT_TRUE(contains(e.what(), "init.scripts_dir")) << e.what();
  }
  EXPECT_EQ(runner_.count("initdb"), 0);
}

// An init killed while its temporary server ran (outside a container nothing kills that
// server with it) left postmaster.pid naming init's run directory: the next init stops that
// server before starting its own, instead of failing on the lock file for ever.
TEST_F(InitPrimaryFlow, LeftoverTemporaryServerIsStoppedFirst) {
  fakes::make_fake_data_dir(pgdata_, kSysid, /*standby=*/false);
  std::ofstream(fs::path(pgdata_) / "postmaster.pid") << (
             "4242\n" + pgdata_ + "\n1700000000\n5432\n" + run_dir() + "\n\n");
  fakes::FakeProcessRunner::Script stops;
  stops.effect = [&](const agent::ProcessSpec& spec) {
    if (spec.args.back() == "stop") fs::remove(fs::path(pgdata_) / "postmaster.pid");
  };
  runner_.script("pg_ctl", stops);
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kOk) << out.message;
  ASSERT_EQ(runner_.specs.size(), 3u);
  EXPECT_EQ(runner_.specs[0].args.back(), "stop") << "the leftover server first";
  EXPECT_TRUE(runner_.specs[0].runs_while_stopping);
  EXPECT_EQ(runner_.specs[1].args.back(), "start");
  EXPECT_EQ(runner_.specs[2].args.back(), "stop");
}

TEST_F(InitPrimaryFlow, StandbyDataOnThePrimaryIsRefused) {
  fakes::make_fake_data_dir(pgdata_, kSysid, /*standby=*/true);
  const auto before = snapshot(pgdata_);
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kUnsafeData) << out.message;
  EXPECT_TRUE(contains(out.message, "standby.signal")) << out.message;
  EXPECT_EQ(snapshot(pgdata_), before);
}

TEST_F(InitPrimaryFlow, EmptyWithoutReplicationPasswordIsAUsageError) {
  config_.postgres.replication_password = agent::Secret();
  try {
    run();
    FAIL() << "expected AgentError";
  } catch (const agent::AgentError& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    EXPECT_TRUE(contains(e.what(), "replication_password_file")) << e.what();
  }
  EXPECT_EQ(runner_.count("initdb"), 0);
  EXPECT_FALSE(fs::exists(run_dir()));
}

// ---------------------------------------------------------------------------------------------
// Configuration errors

TEST_F(InitFlow, BadPodNameIsAUsageError) {
  for (const char* name : {"todo-db", "todo-db-01", "7", ""}) {
    config_.pod.name = name;
    try {
      run();
      ADD_FAILURE() << "expected AgentError for '" << name << "'";
    } catch (const agent::AgentError& e) {
      EXPECT_EQ(e.code(), ExitCode::kUsage) << name;
      EXPECT_TRUE(contains(e.what(), "'" + std::string(name) + "'")) << e.what();
      EXPECT_TRUE(contains(e.what(), "POD_NAME")) << e.what();
    }
  }
  EXPECT_TRUE(resolver_.queries.empty());
  EXPECT_EQ(runner_.specs.size(), static_cast<std::size_t>(runner_.count("pg_controldata")))
      << "nothing but reading the control file";
}

TEST_F(InitFlow, MissingDataDirIsAUsageError) {
  config_.postgres.data_dir.clear();
  try {
    run();
    FAIL() << "expected AgentError";
  } catch (const agent::AgentError& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    EXPECT_TRUE(contains(e.what(), "PGDATA")) << e.what();
  }
}

}  // namespace
}  // namespace replagent::roles
