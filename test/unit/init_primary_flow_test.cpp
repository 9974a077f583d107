// roles::run_init for the primary: initdb (peers checked first), refresh, roles, init scripts.
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
// Primary

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
  repl_.set_system("10.0.0.12", kSysid, 0x16B374D848ULL);
  runner_.initdb_creates(kOtherSysid);
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kUnsafeData) << out.message;
  EXPECT_TRUE(contains(out.message, "10.0.0.12:5432")) << out.message;
  EXPECT_TRUE(contains(out.message, std::to_string(kSysid))) << out.message;
  EXPECT_TRUE(contains(out.message, "16/B374D848")) << out.message;
  EXPECT_TRUE(contains(out.message, "init.allow_empty_primary")) << out.message;
  EXPECT_EQ(repl_.identify_calls.size(), 2u);
  EXPECT_EQ(runner_.count("initdb"), 0);
  EXPECT_EQ(inspect_data_dir(pgdata_).kind, DataDirKind::kEmpty);
}

TEST_F(InitPrimaryFlow, RefusalNamesThePeerPod) {
  fs::create_directory(pgdata_);
  resolver_.set(kServiceHost, {"10.0.0.11"});
  repl_.set_system("10.0.0.11", kSysid, 0x16B374D848ULL, "todo-db-1");
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kUnsafeData) << out.message;
  EXPECT_TRUE(contains(out.message, "peer todo-db-1 (10.0.0.11:5432)")) << out.message;
  EXPECT_TRUE(contains(out.message, "16/B374D848")) << out.message;
}

TEST_F(InitPrimaryFlow, AllowEmptyPrimaryRunsInitdb) {
  config_.init.allow_empty_primary = true;
  resolver_.set(kServiceHost, {"10.0.0.12"});
  repl_.set_system("10.0.0.12", kSysid);
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
  EXPECT_FALSE(contains(all,
                        "replagent_monitor\" WITH LOGIN NOREPLICATION NOBYPASSRLS "
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
  resolver_.set_answer(
      kServiceHost,
      agent::DnsAnswer{agent::DnsStatus::kServerFailure, {}, "SERVFAIL from 10.96.0.10:53"});
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
  resolver_.set_answer(kServiceHost, agent::DnsAnswer{agent::DnsStatus::kTimeout, {}, "no answer"});
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
  pg_.server.fail("", agent::PgError{"42501", "permission denied to create role"});
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
  EXPECT_TRUE(contains(all,
                       "CREATE ROLE \"todo\" WITH LOGIN NOREPLICATION NOBYPASSRLS "
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
  runner_.script("psql", {fakes::exited(3, "psql:" + dir +
                                               "/02-bad.sql:1: ERROR:  syntax error "
                                               "at or near \"bogus\"\nLINE 1: bogus;\n        ^"),
                          {},
                          nullptr});
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
  std::ofstream(fs::path(pgdata_) / "postmaster.pid")
      << ("4242\n" + pgdata_ + "\n1700000000\n5432\n" + run_dir() + "\n\n");
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

}  // namespace
}  // namespace replagent::roles
