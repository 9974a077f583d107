// agent/fs.hpp: write_file_atomic writes secrets (passfiles, pg_hba, backup checksums); what
// sits at its temporary name beforehand must never be written through, reused or published.
#include "agent/fs.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "agent/errors.hpp"
#include "test/unit/fakes.hpp"

namespace replagent::agent {
namespace {

namespace fs = std::filesystem;
using fakes::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void spit(const std::string& path, const std::string& content, mode_t mode) {
  std::ofstream(path, std::ios::binary) << content;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

bool is_symlink(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Sets the umask for one test and puts the old one back.
struct ScopedUmask {
  explicit ScopedUmask(mode_t m) : old(::umask(m)) {}
  ~ScopedUmask() { ::umask(old); }
  mode_t old;
};

// The name the agent used for every temporary file before: predictable, so plantable.
std::string old_fixed_temp_name(const std::string& path) { return path + ".replagent-tmp"; }

TEST(WriteFileAtomic, WritesWithExactlyTheModeWhateverTheUmask) {
  TempDir tmp;
  const std::string path = tmp / "pgpass";
  {
    ScopedUmask open_umask(0);
    write_file_atomic(path, "secret\n", 0600);
  }
  EXPECT_EQ(slurp(path), "secret\n");
  EXPECT_EQ(mode_of(path), 0600u);
  {
    ScopedUmask strict_umask(077);
    write_file_atomic(tmp / "conf", "x\n", 0644);
  }
  EXPECT_EQ(mode_of(tmp / "conf"), 0644u);
  // Replacing a 0644 file gives the new content the requested mode, not the old file's.
  spit(tmp / "old", "old\n", 0644);
  write_file_atomic(tmp / "old", "new secret\n", 0600);
  EXPECT_EQ(mode_of(tmp / "old"), 0600u);
  EXPECT_EQ(slurp(tmp / "old"), "new secret\n");
  // Nothing else is left in the directory.
  EXPECT_EQ(names_in(tmp.path()), (std::vector<std::string>{"conf", "old", "pgpass"}));
}

TEST(WriteFileAtomic, SymlinkPlantedAtTheTemporaryNameIsNotWrittenThrough) {
  TempDir tmp;
  fs::create_directory(tmp / "vol");
  const std::string path = tmp / "vol/pgpass";
  const std::string victim = tmp / "victim";
  spit(victim, "victim\n", 0644);
  fs::create_symlink(victim, old_fixed_temp_name(path));

  write_file_atomic(path, "secret\n", 0600);
  EXPECT_EQ(slurp(victim), "victim\n") << "the secret was written through the planted symlink";
  EXPECT_EQ(mode_of(victim), 0644u);
  EXPECT_FALSE(is_symlink(path)) << "the planted symlink was renamed into place";
  EXPECT_EQ(slurp(path), "secret\n");
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_TRUE(is_symlink(old_fixed_temp_name(path)));
}

TEST(WriteFileAtomic, DanglingSymlinkAtTheTemporaryNameCreatesNothingAtItsTarget) {
  TempDir tmp;
  const std::string path = tmp / "pgpass";
  const std::string target = tmp / "created-through-the-link";
  fs::create_symlink(target, old_fixed_temp_name(path));
  write_file_atomic(path, "secret\n", 0600);
  EXPECT_FALSE(fs::exists(target)) << "open(O_CREAT) followed the dangling symlink";
  EXPECT_EQ(slurp(path), "secret\n");
}

TEST(WriteFileAtomic, PreExistingWideTemporaryFileIsNotReused) {
  TempDir tmp;
  const std::string path = tmp / "pgpass";
  // A 0644 file at the temporary name: reusing it (O_TRUNC) would hold the secret under 0644
  // until the chmod, readable by anyone who opened it meanwhile, and keep their descriptor.
  spit(old_fixed_temp_name(path), "planted\n", 0644);
  write_file_atomic(path, "secret\n", 0600);
  EXPECT_EQ(slurp(old_fixed_temp_name(path)), "planted\n") << "the planted file was reused";
  EXPECT_EQ(mode_of(old_fixed_temp_name(path)), 0644u);
  EXPECT_EQ(slurp(path), "secret\n");
  EXPECT_EQ(mode_of(path), 0600u);
}

TEST(WriteFileAtomic, EveryTakenNameIsSkippedNeverReused) {
  TempDir tmp;
  const std::string path = tmp / "pgpass";
  const std::string victim = tmp / "victim";
  spit(victim, "victim\n", 0600);
  fs::create_symlink(victim, tmp / "t1");
  spit(tmp / "t2", "planted\n", 0644);
  const std::vector<std::string> names = {tmp / "t1", tmp / "t2", tmp / "t3"};
  std::size_t next = 0;
  detail::write_file_atomic(
      path, "secret\n", 0640, [&] { return names.at(next++); }, 5);
  EXPECT_EQ(next, 3u);
  EXPECT_EQ(slurp(victim), "victim\n");
  EXPECT_TRUE(is_symlink(tmp / "t1"));
  EXPECT_EQ(slurp(tmp / "t2"), "planted\n");
  EXPECT_EQ(mode_of(tmp / "t2"), 0644u);
  EXPECT_FALSE(fs::exists(tmp / "t3")) << "renamed into place";
  EXPECT_EQ(slurp(path), "secret\n");
  EXPECT_EQ(mode_of(path), 0640u);
}

TEST(WriteFileAtomic, GivesUpWhenEveryNameIsTakenAndWritesNothing) {
  TempDir tmp;
  const std::string path = tmp / "pgpass";
  spit(tmp / "taken", "planted\n", 0644);
  int tries = 0;
  try {
    detail::write_file_atomic(
        path, "secret\n", 0600,
        [&] {
          ++tries;
          return tmp / "taken";
        },
        3);
    FAIL() << "expected an AgentError";
  } catch (const AgentError& e) {
    EXPECT_EQ(e.code(), ExitCode::kFailed);
    EXPECT_NE(std::string(e.what()).find(tmp / "taken"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("secret"), std::string::npos) << e.what();
  }
  EXPECT_EQ(tries, 3);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(slurp(tmp / "taken"), "planted\n");
}

TEST(WriteFileAtomic, FailedWriteLeavesNoTemporaryFile) {
  TempDir tmp;
  // The target is a directory: rename(2) fails, the temporary file goes again.
  fs::create_directory(tmp / "dir");
  EXPECT_THROW(write_file_atomic(tmp / "dir", "secret\n", 0600), AgentError);
  EXPECT_EQ(names_in(tmp.path()), std::vector<std::string>{"dir"});
}

}  // namespace
}  // namespace replagent::agent
