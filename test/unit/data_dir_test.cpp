#include "roles/data_dir.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

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

// PGDATA's siblings must be on PGDATA's file system: decided from stat results.
struct PlacementCase {
  const char* name;
  const char* pgdata;
  PgdataPlacement where;
  const char* problem;  // substring of the reason; "" for none
};

class PgdataPlacementProblem : public ::testing::TestWithParam<PlacementCase> {};

TEST_P(PgdataPlacementProblem, Decides) {
  const PlacementCase& c = GetParam();
  const std::string why = pgdata_placement_problem(c.pgdata, c.where);
  if (std::string(c.problem).empty()) {
    EXPECT_EQ(why, "");
  } else {
    EXPECT_NE(why.find(c.problem), std::string::npos) << why;
    EXPECT_NE(why.find("set PGDATA to a subdirectory of the volume mount"), std::string::npos)
        << why;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PgdataPlacementProblem,
    ::testing::Values(
        PlacementCase{"subdirectory_of_the_volume",
                      "/var/lib/postgresql/data/pgdata",
                      {true, 41, 7, 41, 2},
                      ""},
        PlacementCase{"missing_is_created_in_the_parent",
                      "/var/lib/postgresql/data/pgdata",
                      {false, 0, 0, 41, 2},
                      ""},
        PlacementCase{"mount_point",
                      "/var/lib/postgresql/data",
                      {true, 41, 2, 40, 9},
                      "is a mount point (another file system than its parent /var/lib/postgresql)"},
        PlacementCase{"mount_point_suggests_a_subdirectory",
                      "/var/lib/postgresql/data/",
                      {true, 41, 2, 40, 9},
                      "e.g. PGDATA=/var/lib/postgresql/data/pgdata"},
        PlacementCase{"mount_point_names_the_staging_dir",
                      "/data",
                      {true, 41, 2, 40, 9},
                      "/.data.replagent-staging"},
        PlacementCase{"root", "/", {true, 40, 2, 40, 2}, "file system root"},
        PlacementCase{"root_by_its_path_alone", "//", {false, 0, 0, 0, 0}, "file system root"},
        PlacementCase{
            "same_inode_as_its_parent", "/srv/.", {true, 40, 2, 40, 2}, "file system root"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(CheckPgdataPlacement, AcceptsASubdirectoryMissingOrNot) {
  TempDir tmp;
  EXPECT_NO_THROW(check_pgdata_placement(tmp / "pgdata"));
  fs::create_directory(tmp / "pgdata");
  EXPECT_NO_THROW(check_pgdata_placement(tmp / "pgdata"));
  EXPECT_NO_THROW(check_pgdata_placement(tmp / "pgdata/"));
}

// A real mount point the unprivileged test can see: /proc is one in every Linux container.
TEST(CheckPgdataPlacement, RefusesARealMountPointWithExit2) {
  struct stat proc {};
  struct stat root {};
  if (::stat("/proc", &proc) != 0 || ::stat("/", &root) != 0 || proc.st_dev == root.st_dev)
    GTEST_SKIP() << "/proc is not a mount point here";
  try {
    check_pgdata_placement("/proc");
    FAIL() << "PGDATA=/proc was accepted";
  } catch (const agent::AgentError& e) {
    EXPECT_EQ(e.code(), agent::ExitCode::kUsage);
    EXPECT_NE(std::string(e.what()).find("mount point"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("PGDATA=/proc/pgdata"), std::string::npos) << e.what();
  }
  EXPECT_THROW(check_pgdata_placement("/"), agent::AgentError);
}

// What an attacker (or a confused operator) could plant at replagent's sibling names.
bool is_symlink(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

void expect_refused(const std::function<void()>& f, const std::string& name) {
  try {
    f();
    FAIL() << "accepted " << name;
  } catch (const agent::AgentError& e) {
    EXPECT_EQ(e.code(), agent::ExitCode::kUnsafeData) << e.what();
    EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
  }
}

TEST(RemoveLeftovers, SymlinkAtTheStagingNameIsNeitherFollowedNorRemoved) {
  TempDir tmp;
  const std::string pgdata = tmp / "pgdata";
  make_fake_data_dir(pgdata, kSysid, true);
  fs::create_directory(tmp / "elsewhere");
  std::ofstream(tmp / "elsewhere/precious") << "keep me";
  fs::create_directory_symlink(tmp / "elsewhere", staging_dir_for(pgdata));

  expect_refused([&] { remove_leftovers(pgdata); }, staging_dir_for(pgdata));
  EXPECT_TRUE(is_symlink(staging_dir_for(pgdata))) << "the planted link was removed";
  EXPECT_TRUE(fs::exists(tmp / "elsewhere/precious"));
  EXPECT_EQ(inspect_data_dir(pgdata).kind, DataDirKind::kReplica);
}

TEST(RemoveLeftovers, FileAtTheRunNameIsRefused) {
  TempDir tmp;
  const std::string pgdata = tmp / "pgdata";
  std::ofstream(run_dir_for(pgdata)) << "not ours";
  expect_refused([&] { remove_leftovers(pgdata); }, run_dir_for(pgdata));
  EXPECT_TRUE(fs::is_regular_file(run_dir_for(pgdata)));
}

TEST(RemoveLeftovers, SymlinkAtTheRetiredNameIsNotMovedIntoPgdata) {
  TempDir tmp;
  const std::string pgdata = tmp / "pgdata";  // missing: an interrupted swap would be undone
  make_fake_data_dir(tmp / "elsewhere", kSysid, true);
  fs::create_directory_symlink(tmp / "elsewhere", retired_dir_for(pgdata));

  expect_refused([&] { remove_leftovers(pgdata); }, retired_dir_for(pgdata));
  EXPECT_FALSE(fs::exists(fs::symlink_status(pgdata))) << "PGDATA became the planted link";
  EXPECT_TRUE(is_symlink(retired_dir_for(pgdata)));
  EXPECT_EQ(inspect_data_dir(tmp / "elsewhere").kind, DataDirKind::kReplica);
}

TEST(PromoteStaging, RefusesASymlinkAtTheStagingName) {
  TempDir tmp;
  const std::string pgdata = tmp / "pgdata";
  make_fake_data_dir(tmp / "elsewhere", kSysid, true);
  fs::create_directory_symlink(tmp / "elsewhere", staging_dir_for(pgdata));
  expect_refused([&] { promote_staging(pgdata); }, staging_dir_for(pgdata));
  EXPECT_FALSE(fs::exists(fs::symlink_status(pgdata)));
}

TEST(MakePrivateDir, CreatesOrTightensTo0700) {
  TempDir tmp;
  const mode_t old = ::umask(0);
  make_private_dir(tmp / "vol/.pgdata.replagent-run");
  ::umask(old);
  EXPECT_EQ(fs::status(tmp / "vol/.pgdata.replagent-run").permissions() & fs::perms::all,
            fs::perms::owner_all);
  fs::create_directory(tmp / "wide");
  fs::permissions(tmp / "wide", fs::perms::all);
  make_private_dir(tmp / "wide");
  EXPECT_EQ(fs::status(tmp / "wide").permissions() & fs::perms::all, fs::perms::owner_all);
}

TEST(MakePrivateDir, RefusesASymlinkAndLeavesItsTargetAlone) {
  TempDir tmp;
  fs::create_directory(tmp / "elsewhere");
  fs::permissions(tmp / "elsewhere", fs::perms::owner_all | fs::perms::group_read |
                                         fs::perms::group_exec | fs::perms::others_read |
                                         fs::perms::others_exec);
  fs::create_directory_symlink(tmp / "elsewhere", tmp / "run");
  expect_refused([&] { make_private_dir(tmp / "run"); }, tmp / "run");
  EXPECT_EQ(fs::status(tmp / "elsewhere").permissions() & fs::perms::all,
            fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                fs::perms::others_read | fs::perms::others_exec);
  std::ofstream(tmp / "file") << "x";
  expect_refused([&] { make_private_dir(tmp / "file"); }, tmp / "file");
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
