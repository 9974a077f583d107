#include "roles/data_dir.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "agent/errors.hpp"
#include "test/unit/fakes.hpp"

namespace replagent::roles {
namespace {

namespace fs = std::filesystem;
using fakes::make_fake_data_dir;
using fakes::TempDir;

constexpr std::uint64_t kSysid = 7312345678901234567ULL;

struct KindCase {
  const char* name;
  std::function<void(const std::string& pgdata)> setup;
  DataDirKind kind;
  std::uint64_t sysid;
  const char* detail;  // substring of DataDirState::detail
};

class InspectDataDir : public ::testing::TestWithParam<KindCase> {};

TEST_P(InspectDataDir, Classifies) {
  const KindCase& c = GetParam();
  TempDir tmp;
  const std::string pgdata = tmp / "pgdata";
  c.setup(pgdata);
  const DataDirState st = inspect_data_dir(pgdata);
  EXPECT_EQ(st.kind, c.kind) << to_string(st.kind) << " " << st.detail;
  EXPECT_EQ(st.system_identifier, c.sysid);
  EXPECT_NE(st.detail.find(c.detail), std::string::npos) << st.detail;
  if (c.kind == DataDirKind::kReplica || c.kind == DataDirKind::kPrimary) {
    EXPECT_EQ(st.pg_version, "15");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, InspectDataDir,
    ::testing::Values(
        KindCase{"missing", [](const std::string&) {}, DataDirKind::kMissing, 0, ""},
        KindCase{"empty", [](const std::string& d) { fs::create_directory(d); },
                 DataDirKind::kEmpty, 0, ""},
        KindCase{"replica",
                 [](const std::string& d) { make_fake_data_dir(d, kSysid, /*standby=*/true); },
                 DataDirKind::kReplica, kSysid, ""},
        KindCase{"primary",
                 [](const std::string& d) { make_fake_data_dir(d, kSysid, /*standby=*/false); },
                 DataDirKind::kPrimary, kSysid, ""},
        KindCase{"files_without_pg_version",
                 [](const std::string& d) {
                   fs::create_directory(d);
                   std::ofstream(fs::path(d) / "notes.txt") << "not postgres";
                 },
                 DataDirKind::kUnknownContents, 0, "PG_VERSION"},
        KindCase{"pg_version_without_pg_control",
                 [](const std::string& d) {
                   make_fake_data_dir(d, kSysid, /*standby=*/true);
                   fs::remove(fs::path(d) / "global" / "pg_control");
                 },
                 DataDirKind::kUnknownContents, 0, "pg_control"},
        KindCase{"truncated_pg_control",
                 [](const std::string& d) {
                   make_fake_data_dir(d, kSysid, /*standby=*/true);
                   std::ofstream(fs::path(d) / "global" / "pg_control") << "abc";
                 },
                 DataDirKind::kUnknownContents, 0, "pg_control"},
        KindCase{"pgdata_is_a_file", [](const std::string& d) { std::ofstream(d) << "x"; },
                 DataDirKind::kUnknownContents, 0, "not a directory"}),
    [](const auto& info) { return std::string(info.param.name); });

struct PathCase {
  const char* pgdata;
  const char* staging;
  const char* run;
  const char* retired;
};

class SiblingPaths : public ::testing::TestWithParam<PathCase> {};

TEST_P(SiblingPaths, AreHiddenSiblingsOfPgdata) {
  const PathCase& c = GetParam();
  EXPECT_EQ(staging_dir_for(c.pgdata), c.staging);
  EXPECT_EQ(run_dir_for(c.pgdata), c.run);
  EXPECT_EQ(retired_dir_for(c.pgdata), c.retired);
}

INSTANTIATE_TEST_SUITE_P(
    Paths, SiblingPaths,
    ::testing::Values(PathCase{"/var/lib/postgresql/data/pgdata",
                               "/var/lib/postgresql/data/.pgdata.replagent-staging",
                               "/var/lib/postgresql/data/.pgdata.replagent-run",
                               "/var/lib/postgresql/data/.pgdata.replagent-retired"},
                      PathCase{"/var/lib/postgresql/data/pgdata/",
                               "/var/lib/postgresql/data/.pgdata.replagent-staging",
                               "/var/lib/postgresql/data/.pgdata.replagent-run",
                               "/var/lib/postgresql/data/.pgdata.replagent-retired"},
                      PathCase{"/data//pgdata", "/data/.pgdata.replagent-staging",
                               "/data/.pgdata.replagent-run", "/data/.pgdata.replagent-retired"},
                      PathCase{"/pgdata", "/.pgdata.replagent-staging", "/.pgdata.replagent-run",
                               "/.pgdata.replagent-retired"}));

TEST(RemoveLeftovers, RemovesStagingAndRunButNeverPgdata) {
  TempDir tmp;
  const std::string pgdata = tmp / "pgdata";
  make_fake_data_dir(pgdata, kSysid, true);
  make_fake_data_dir(staging_dir_for(pgdata), kSysid, true);
  fs::create_directory(run_dir_for(pgdata));
  std::ofstream(fs::path(run_dir_for(pgdata)) / "pgpass") << "*:*:*:u:p\n";

  EXPECT_TRUE(remove_leftovers(pgdata));
  EXPECT_FALSE(fs::exists(staging_dir_for(pgdata)));
  EXPECT_FALSE(fs::exists(run_dir_for(pgdata)));
  EXPECT_EQ(inspect_data_dir(pgdata).kind, DataDirKind::kReplica);

  EXPECT_FALSE(remove_leftovers(pgdata)) << "nothing left the second time";
  EXPECT_EQ(inspect_data_dir(pgdata).kind, DataDirKind::kReplica);
}

TEST(RemoveLeftovers, RetiredDataComesBackWhenTheSwapWasInterrupted) {
  TempDir tmp;
  const std::string pgdata = tmp / "pgdata";
  make_fake_data_dir(retired_dir_for(pgdata), kSysid, true);
  std::ofstream(fs::path(retired_dir_for(pgdata)) / "old-marker") << "old";
  make_fake_data_dir(staging_dir_for(pgdata), kSysid, true);  // the complete new clone

  EXPECT_TRUE(remove_leftovers(pgdata));
  EXPECT_FALSE(fs::exists(retired_dir_for(pgdata)));
  EXPECT_FALSE(fs::exists(staging_dir_for(pgdata)));
  EXPECT_EQ(inspect_data_dir(pgdata).kind, DataDirKind::kReplica);
  EXPECT_TRUE(fs::exists(fs::path(pgdata) / "old-marker")) << "the old data is back, not lost";
}

TEST(RemoveLeftovers, RetiredDataGoesOnceTheNewCloneIsInPlace) {
  TempDir tmp;
  const std::string pgdata = tmp / "pgdata";
  make_fake_data_dir(pgdata, kSysid, true);
  make_fake_data_dir(retired_dir_for(pgdata), kSysid, true);
  std::ofstream(fs::path(retired_dir_for(pgdata)) / "old-marker") << "old";

  EXPECT_TRUE(remove_leftovers(pgdata));
  EXPECT_FALSE(fs::exists(retired_dir_for(pgdata)));
  EXPECT_FALSE(fs::exists(fs::path(pgdata) / "old-marker"));
  EXPECT_EQ(inspect_data_dir(pgdata).kind, DataDirKind::kReplica);
}

TEST(RemoveLeftovers, NothingToDoWithoutPgdata) {
  TempDir tmp;
  EXPECT_FALSE(remove_leftovers(tmp / "pgdata"));
  EXPECT_FALSE(fs::exists(tmp / "pgdata"));
}

TEST(PromoteStaging, RenamesIntoMissingPgdata) {
  TempDir tmp;
  const std::string pgdata = tmp / "pgdata";
  make_fake_data_dir(staging_dir_for(pgdata), kSysid, true);
  promote_staging(pgdata);
  EXPECT_FALSE(fs::exists(staging_dir_for(pgdata)));
  const auto st = inspect_data_dir(pgdata);
  EXPECT_EQ(st.kind, DataDirKind::kReplica);
  EXPECT_EQ(st.system_identifier, kSysid);
  EXPECT_EQ(fs::status(pgdata).permissions() & fs::perms::all, fs::perms::owner_all);
}

TEST(PromoteStaging, RenamesIntoEmptyPgdata) {
  TempDir tmp;
  const std::string pgdata = tmp / "pgdata";
  fs::create_directory(pgdata);
  make_fake_data_dir(staging_dir_for(pgdata), kSysid, false);
  promote_staging(pgdata);
  EXPECT_FALSE(fs::exists(staging_dir_for(pgdata)));
  EXPECT_EQ(inspect_data_dir(pgdata).kind, DataDirKind::kPrimary);
}

TEST(PromoteStaging, TrailingSlash) {
  TempDir tmp;
  const std::string pgdata = tmp / "pgdata";
  make_fake_data_dir(staging_dir_for(pgdata), kSysid, true);
  promote_staging(pgdata + "/");
  EXPECT_FALSE(fs::exists(staging_dir_for(pgdata)));
  EXPECT_EQ(inspect_data_dir(pgdata).kind, DataDirKind::kReplica);
}

TEST(PromoteStaging, RefusesNonEmptyPgdata) {
  TempDir tmp;
  const std::string pgdata = tmp / "pgdata";
  fs::create_directory(pgdata);
  std::ofstream(fs::path(pgdata) / "precious.txt") << "keep me";
  make_fake_data_dir(staging_dir_for(pgdata), kSysid, true);
  try {
    promote_staging(pgdata);
    FAIL() << "promote_staging replaced a non-empty PGDATA";
  } catch (const agent::AgentError& e) {
    EXPECT_EQ(e.code(), agent::ExitCode::kUnsafeData);
    EXPECT_NE(std::string(e.what()).find(pgdata), std::string::npos) << e.what();
  }
  std::ifstream kept(fs::path(pgdata) / "precious.txt");
  std::string text;
  std::getline(kept, text);
  EXPECT_EQ(text, "keep me");
  EXPECT_EQ(inspect_data_dir(staging_dir_for(pgdata)).kind, DataDirKind::kReplica);
}

TEST(DataDirKindNames, AreReadable) {
  EXPECT_STREQ(to_string(DataDirKind::kMissing), "missing");
  EXPECT_STREQ(to_string(DataDirKind::kEmpty), "empty");
  EXPECT_STREQ(to_string(DataDirKind::kReplica), "replica");
  EXPECT_STREQ(to_string(DataDirKind::kPrimary), "primary");
  EXPECT_STREQ(to_string(DataDirKind::kUnknownContents), "unknown contents");
}

}  // namespace
}  // namespace replagent::roles
