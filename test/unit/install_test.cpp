#include "agent/install.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "agent/errors.hpp"
#include "test/unit/fakes.hpp"

namespace replagent::agent {
namespace {

namespace fs = std::filesystem;

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// A small stand-in for the executable: copying the 90 MB test binary took 15 s of the unit
// suite. install_self is install_file("/proc/self/exe", dir); the runtime bed's install test
// runs the real binary's copy.
std::string small_executable(const fakes::TempDir& dir) {
  const std::string path = dir / "source";
  const std::string bytes(
      "\x7f"
      "ELF not really\0\x01\x02",
      18);  // a NUL inside, kept
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

TEST(InstallSelf, CopiesTheExecutable) {
  fakes::TempDir src;
  fakes::TempDir dir;
  const std::string source = small_executable(src);
  const std::string target = install_file(source, dir.path().string());
  EXPECT_EQ(target, dir / "replagent");
  EXPECT_EQ(mode_of(target), 0755u);
  EXPECT_TRUE(fs::is_regular_file(target));
  EXPECT_EQ(read(target), read(source));
  EXPECT_EQ(read(target).size(), 18u);
  // Only the executable: no temporary file left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(InstallSelf, SecondRunReplacesTheCopy) {
  fakes::TempDir src;
  fakes::TempDir dir;
  const std::string source = small_executable(src);
  const std::string target = dir / "replagent";
  std::ofstream(target) << "an older version";
  ::chmod(target.c_str(), 0600);
  EXPECT_EQ(install_file(source, dir.path().string()), target);
  EXPECT_EQ(install_file(source, dir.path().string()), target);
  EXPECT_EQ(mode_of(target), 0755u);
  EXPECT_EQ(read(target), read(source));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(InstallSelf, MissingDirectoryNamesThePath) {
  fakes::TempDir dir;
  const std::string missing = dir / "not-mounted";
  try {
    install_file("/dev/null", missing);
    FAIL() << "expected AgentError";
  } catch (const AgentError& e) {
    EXPECT_NE(e.code(), ExitCode::kOk);
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(missing));
}

TEST(InstallSelf, AFileIsNotADirectory) {
  fakes::TempDir dir;
  const std::string file = dir / "file";
  std::ofstream(file) << "x";
  try {
    install_file("/dev/null", file);
    FAIL() << "expected AgentError";
  } catch (const AgentError& e) {
    EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
  }
  EXPECT_EQ(read(file), "x");
}

}  // namespace
}  // namespace replagent::agent
