// The record init leaves for the sidecar: round trip, tolerance of odd input, file handling.
#include "roles/init_record.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "test/unit/fakes.hpp"

namespace replagent::roles {
namespace {

TEST(InitRecord, RoundTripsAndFlattensNewlines) {
  const InitRecord r{"reclone", "slot_wal_removed", 1764100000, "re-cloned\nsecond line"};
  const auto parsed = parse_init_record(render_init_record(r));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->action, "reclone");
  EXPECT_EQ(parsed->reason, "slot_wal_removed");
  EXPECT_EQ(parsed->time, 1764100000);
  EXPECT_EQ(parsed->message, "re-cloned second line");
}

TEST(InitRecord, TextWithoutAnActionIsNoRecord) {
  EXPECT_FALSE(parse_init_record(""));
  EXPECT_FALSE(parse_init_record("# comment\nreason=x\ntime=12\n"));
  EXPECT_FALSE(parse_init_record("garbage without equals"));
}

TEST(InitRecord, BadTimeIsZeroNotAnError) {
  const auto r = parse_init_record("action=kept\ntime=12abc\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->action, "kept");
  EXPECT_EQ(r->time, 0);
}

TEST(InitRecord, SavedOnlyForAnOutcomeWithAnActionAndPrivate) {
  fakes::TempDir tmp;
  const std::string pgdata = tmp / "pgdata";
  std::filesystem::create_directories(pgdata);
  InitOutcome failed{agent::ExitCode::kCloneFailed, "failed", InitAction::kNone, InitReason::kNone};
  save_init_record(pgdata, failed, 1);
  EXPECT_FALSE(load_init_record(pgdata));

  InitOutcome cloned{agent::ExitCode::kOk, "cloned x", InitAction::kClone, InitReason::kNone};
  save_init_record(pgdata, cloned, 42);
  const auto r = load_init_record(pgdata);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->action, "clone");
  EXPECT_EQ(r->time, 42);
  const auto perms =
      std::filesystem::status(std::filesystem::path(pgdata) / kInitRecordFile).permissions();
  EXPECT_EQ(perms & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

// The labels are an on-disk format and the sidecar's metric label values: they never change.
TEST(InitRecord, ActionsAndReasonsAreWrittenAsTheirLabels) {
  const std::vector<std::pair<InitAction, std::string>> actions = {
      {InitAction::kNone, ""},       {InitAction::kInitdb, "initdb"},
      {InitAction::kClone, "clone"}, {InitAction::kReclone, "reclone"},
      {InitAction::kKept, "kept"},   {InitAction::kRefreshed, "refreshed"},
  };
  for (const auto& [action, label] : actions) EXPECT_EQ(to_string(action), label);
  const std::vector<std::pair<InitReason, std::string>> reasons = {
      {InitReason::kNone, ""},
      {InitReason::kSlotMissing, "slot_missing"},
      {InitReason::kSlotWalRemoved, "slot_wal_removed"},
      {InitReason::kForeignData, "foreign_data"},
  };
  for (const auto& [reason, label] : reasons) EXPECT_EQ(to_string(reason), label);

  fakes::TempDir tmp;
  const std::string pgdata = tmp / "pgdata";
  std::filesystem::create_directories(pgdata);
  save_init_record(pgdata,
                   InitOutcome{agent::ExitCode::kOk, "re-cloned", InitAction::kReclone,
                               InitReason::kSlotWalRemoved},
                   7);
  const auto r = load_init_record(pgdata);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->action, "reclone");
  EXPECT_EQ(r->reason, "slot_wal_removed");
}

TEST(InitRecord, MissingDirectoryIsNoRecord) {
  EXPECT_FALSE(load_init_record("/nonexistent/replagent/pgdata"));
}

}  // namespace
}  // namespace replagent::roles
