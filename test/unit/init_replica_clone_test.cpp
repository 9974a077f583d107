// roles::run_init for a replica that clones: an empty volume, every way a clone can fail, and
// the configuration errors.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "test/unit/init_flow_fixture.hpp"

namespace replagent::roles {
namespace {

using namespace init_flow_test;  // NOLINT: the fixture and its helpers
using agent::ExitCode;
using std::chrono::milliseconds;

// ---------------------------------------------------------------------------------------------
// Replica

TEST_F(InitFlow, ReplicaWithEmptyPgdataClones) {
  fs::create_directory(pgdata_);
  resolver_.set(kPrimaryHost, {kPrimaryAddr}, /*appear_after=*/3);
  pg_.script_ping(kPrimaryAddr, {agent::PingStatus::kRejected, agent::PingStatus::kRejected});
  repl_.set_system(kPrimaryAddr, kSysid);
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

  ASSERT_EQ(repl_.slot_calls.size(), 1u);
  EXPECT_EQ(repl_.slot_calls[0].second, "todo_db_1");
  EXPECT_TRUE(repl_.slot_calls[0].first.replication);
  EXPECT_EQ(repl_.slot_calls[0].first.user, "replicator");

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
  resolver_.set_answer(
      kPrimaryHost,
      agent::DnsAnswer{agent::DnsStatus::kServerFailure, {}, "SERVFAIL from 10.96.0.10:53"});
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
  EXPECT_TRUE(repl_.identify_calls.empty());
  EXPECT_EQ(runner_.specs.size(), 0u);
}

TEST_F(InitFlow, AuthFailureIsACloneFailure) {
  resolver_.set(kPrimaryHost, {kPrimaryAddr});
  repl_.set_identify_error(kPrimaryAddr,
                           agent::PgError{"28P01",
                                          "FATAL:  password authentication failed for user "
                                          "\"replicator\""});
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kCloneFailed) << out.message;
  EXPECT_TRUE(contains(out.message, "replicator@")) << out.message;
  EXPECT_TRUE(contains(out.message, kPrimaryHost)) << out.message;
  EXPECT_TRUE(contains(out.message, "replication_password")) << out.message;
  EXPECT_FALSE(contains(out.message, "s3cret")) << out.message;
  EXPECT_TRUE(repl_.slot_calls.empty());
  EXPECT_EQ(runner_.specs.size(), 0u);
}

TEST_F(InitFlow, SlotFailureIsACloneFailure) {
  resolver_.set(kPrimaryHost, {kPrimaryAddr});
  repl_.set_system(kPrimaryAddr, kSysid);
  repl_.slot_error = agent::PgError{"53400", "all replication slots are in use"};
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kCloneFailed) << out.message;
  EXPECT_TRUE(contains(out.message, "todo_db_1")) << out.message;
  EXPECT_TRUE(contains(out.message, "all replication slots are in use")) << out.message;
  EXPECT_EQ(runner_.specs.size(), 0u);
}

TEST_F(InitFlow, BasebackupFailureRemovesStaging) {
  resolver_.set(kPrimaryHost, {kPrimaryAddr});
  repl_.set_system(kPrimaryAddr, kSysid);
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
  repl_.set_system(kPrimaryAddr, kSysid);
  runner_.basebackup_creates(kOtherSysid);  // not what IDENTIFY_SYSTEM said
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kCloneFailed) << out.message;
  EXPECT_FALSE(fs::exists(pgdata_));
  EXPECT_FALSE(fs::exists(staging()));
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
  resolver_.on_query = [this](const std::string&) { stop_.request_stop(); };
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kFailed) << out.message;
  EXPECT_TRUE(contains(out.message, "stopped")) << out.message;
  EXPECT_EQ(resolver_.calls(kPrimaryHost), 1);
  EXPECT_TRUE(clock_.sleeps.empty());
}

TEST_F(InitFlow, StoppedCloneIsCleanedUp) {
  resolver_.set(kPrimaryHost, {kPrimaryAddr});
  repl_.set_system(kPrimaryAddr, kSysid);
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
