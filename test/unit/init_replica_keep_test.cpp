// roles::run_init for a replica volume that holds data: kept, re-cloned (slot, foreign data)
// or refused.
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

TEST_F(InitFlow, ValidReplicaIsKeptWithoutClone) {
  fakes::make_fake_data_dir(pgdata_, kSysid, /*standby=*/true);
  resolver_.set(kPrimaryHost, {kPrimaryAddr});
  repl_.set_system(kPrimaryAddr, kSysid);
  const InitOutcome out = run();
  EXPECT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_TRUE(contains(out.message, "no clone")) << out.message;
  EXPECT_EQ(runner_.count("pg_basebackup"), 0);
  EXPECT_EQ(runner_.specs.size(), static_cast<std::size_t>(runner_.count("pg_controldata")))
      << "nothing but reading the control file";
  EXPECT_TRUE(pg_.ping_calls.empty()) << "a restart does not wait for the primary";
  EXPECT_TRUE(repl_.slot_calls.empty());
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
    repl_.set_system(kPrimaryAddr, kSysid);
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
        << recorded << " recorded, " << configured << " configured:\n"
        << conf;
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
      "pg_control version number:            1300", "wal_level setting:                    replica",
      "wal_log_hints setting:                on",   "max_connections setting:              300",
      "max_worker_processes setting:         16",   "max_wal_senders setting:              20",
      "max_prepared_xacts setting:           10",   "max_locks_per_xact setting:           128",
      "track_commit_timestamp setting:       off"};
  struct Case {
    std::map<std::string, std::string> configured;
    std::map<std::string, std::string> written;
  };
  const Case cases[] = {
      // Lower than the primary's: raised to it.
      {{{"max_connections", "100"},
        {"max_worker_processes", "8"},
        {"max_prepared_transactions", "0"},
        {"max_locks_per_transaction", "64"}},
       {{"max_connections", "300"},
        {"max_worker_processes", "16"},
        {"max_prepared_transactions", "10"},
        {"max_locks_per_transaction", "128"}}},
      // Higher: kept.
      {{{"max_connections", "500"},
        {"max_worker_processes", "32"},
        {"max_prepared_transactions", "20"},
        {"max_locks_per_transaction", "256"}},
       {{"max_connections", "500"},
        {"max_worker_processes", "32"},
        {"max_prepared_transactions", "20"},
        {"max_locks_per_transaction", "256"}}},
      // Not set: the primary's, and other parameters untouched.
      {{{"work_mem", "64MB"}},
       {{"max_connections", "300"},
        {"max_worker_processes", "16"},
        {"max_prepared_transactions", "10"},
        {"max_locks_per_transaction", "128"},
        {"work_mem", "64MB"}}},
  };
  for (const bool clone : {false, true}) {
    for (const auto& c : cases) {
      fs::remove_all(pgdata_);
      runner_ = fakes::FakeProcessRunner();
      resolver_.set(kPrimaryHost, {kPrimaryAddr});
      repl_.set_system(kPrimaryAddr, kSysid);
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
            << (clone ? "clone: " : "kept: ") << name << " = " << value << " expected in\n"
            << conf;
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
  repl_.set_system(kPrimaryAddr, kSysid);
  const InitOutcome out = run();
  ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_STREQ(to_string(out.action), "kept");
  EXPECT_STREQ(to_string(out.reason), "");
  ASSERT_EQ(repl_.read_slot_calls.size(), 1u);
  EXPECT_EQ(repl_.read_slot_calls[0].second, "todo_db_1");
  EXPECT_TRUE(repl_.read_slot_calls[0].first.replication);
  EXPECT_TRUE(repl_.drop_slot_calls.empty());
}

TEST_F(InitFlow, ReplicaWhoseSlotLostItsWalIsReclonedAndSaysWhy) {
  fakes::make_fake_data_dir(pgdata_, kSysid, /*standby=*/true);
  std::ofstream(fs::path(pgdata_) / "old-marker") << "old";
  primary_is_up();
  repl_.slot_state = agent::SlotState{true, std::nullopt};  // invalidated
  const InitOutcome out = run();
  ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_STREQ(to_string(out.action), "reclone");
  EXPECT_STREQ(to_string(out.reason), "slot_wal_removed");
  EXPECT_TRUE(contains(out.message, "re-cloned")) << out.message;
  EXPECT_TRUE(contains(out.message, "todo_db_1")) << out.message;
  EXPECT_TRUE(contains(out.message, "max_slot_wal_keep_size")) << out.message;
  // The invalidated slot is replaced before the clone streams through it.
  ASSERT_EQ(repl_.drop_slot_calls.size(), 1u);
  EXPECT_EQ(repl_.drop_slot_calls[0].second, "todo_db_1");
  EXPECT_EQ(repl_.slot_calls.size(), 1u);
  EXPECT_EQ(runner_.count("pg_basebackup"), 1);
  EXPECT_FALSE(fs::exists(fs::path(pgdata_) / "old-marker"));
  EXPECT_EQ(inspect_data_dir(pgdata_).kind, DataDirKind::kReplica);
  EXPECT_FALSE(fs::exists(retired_dir_for(pgdata_)));
}

TEST_F(InitFlow, ReplicaWhoseSlotIsMissingIsRecloned) {
  fakes::make_fake_data_dir(pgdata_, kSysid, /*standby=*/true);
  primary_is_up();
  repl_.slot_state = agent::SlotState{};  // no such slot
  const InitOutcome out = run();
  ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_STREQ(to_string(out.action), "reclone");
  EXPECT_STREQ(to_string(out.reason), "slot_missing");
  EXPECT_TRUE(repl_.drop_slot_calls.empty());
  EXPECT_EQ(runner_.count("pg_basebackup"), 1);
}

TEST_F(InitFlow, FailedRecloneKeepsTheOldReplicaData) {
  fakes::make_fake_data_dir(pgdata_, kSysid, /*standby=*/true);
  std::ofstream(fs::path(pgdata_) / "old-marker") << "old";
  resolver_.set(kPrimaryHost, {kPrimaryAddr});
  repl_.set_system(kPrimaryAddr, kSysid);
  repl_.slot_state = agent::SlotState{true, std::nullopt};
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
  repl_.set_system(kPrimaryAddr, kSysid);
  repl_.read_slot_error = agent::PgError{"", "server closed the connection unexpectedly"};
  const InitOutcome out = run();
  ASSERT_EQ(out.code, ExitCode::kOk) << out.message;
  EXPECT_STREQ(to_string(out.action), "kept");
  EXPECT_EQ(runner_.count("pg_basebackup"), 0);
}

TEST_F(InitFlow, ReplicaOfAnotherClusterIsRefused) {
  fakes::make_fake_data_dir(pgdata_, kOtherSysid, /*standby=*/true);
  resolver_.set(kPrimaryHost, {kPrimaryAddr});
  repl_.set_system(kPrimaryAddr, kSysid);
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

}  // namespace
}  // namespace replagent::roles
