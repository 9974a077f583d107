#include "agent/process.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "agent/signals.hpp"

namespace replagent::agent {
namespace {

using std::chrono::milliseconds;
using End = ProcessResult::End;

ProcessSpec shell(const std::string& script) {
  ProcessSpec spec;
  spec.program = "/bin/sh";
  spec.args = {"-c", script};
  return spec;
}

struct Ran {
  ProcessResult result;
  std::vector<std::string> lines;
};

Ran run(const ProcessSpec& spec, StopToken stop = {}) {
  Ran r;
  r.result = make_boost_process_runner(stop)->run(
      spec, [&](std::string_view line) { r.lines.emplace_back(line); });
  return r;
}

// Gone, or a zombie: an orphaned grandchild is reaped by PID 1, on its own schedule.
bool process_dead(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto paren = line.rfind(')');
  return paren != std::string::npos && line.size() > paren + 2 && line[paren + 2] == 'Z';
}

bool process_exists(pid_t pid) {
  // A direct child is reaped by the runner before it returns; allow a grandchild a moment.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!process_dead(pid)) {
    if (std::chrono::steady_clock::now() > deadline) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return false;
}

// The first line the child printed is its pid ($$).
pid_t first_line_pid(const Ran& r) {
  if (r.lines.empty()) return 0;
  return static_cast<pid_t>(std::stol(r.lines.front()));
}

TEST(ProcessTest, ReportsExitCodes) {
  auto ok = run(shell("exit 0"));
  EXPECT_EQ(ok.result.end, End::kExited);
  EXPECT_EQ(ok.result.exit_code, 0);
  EXPECT_TRUE(ok.result.ok());

  auto failed = run(shell("exit 3"));
  EXPECT_EQ(failed.result.end, End::kExited);
  EXPECT_EQ(failed.result.exit_code, 3);
  EXPECT_FALSE(failed.result.ok());
  EXPECT_EQ(failed.result.describe(), "exited with status 3");

  // A normal "exit 9" is an exit, not a kill (Boost reports both as 9).
  auto nine = run(shell("exit 9"));
  EXPECT_EQ(nine.result.end, End::kExited);
  EXPECT_EQ(nine.result.exit_code, 9);
}

TEST(ProcessTest, SplitsLinesOnNewlineAndCarriageReturn) {
  auto r = run(shell(R"(printf 'one\ntwo\rthree\r\n\nfour'; printf 'err1\nerr2' >&2)"));
  ASSERT_TRUE(r.result.ok()) << r.result.describe();
  std::vector<std::string> out, err;
  for (const auto& l : r.lines) (l.rfind("err", 0) == 0 ? err : out).push_back(l);
  EXPECT_EQ(out, (std::vector<std::string>{"one", "two", "three", "four"}));
  EXPECT_EQ(err, (std::vector<std::string>{"err1", "err2"}));
  EXPECT_NE(r.result.output_tail.find("four"), std::string::npos);
  EXPECT_NE(r.result.output_tail.find("err2"), std::string::npos);
}

TEST(ProcessTest, KeepsOnlyTheLastLinesInTheTail) {
  auto r = run(shell("i=0; while [ $i -lt 100 ]; do echo line$i; i=$((i+1)); done"));
  ASSERT_TRUE(r.result.ok());
  EXPECT_EQ(r.lines.size(), 100u);
  EXPECT_EQ(r.result.output_tail.find("line79\n"), std::string::npos);
  EXPECT_EQ(r.result.output_tail.rfind("line80\n", 0), 0u);
  EXPECT_NE(r.result.output_tail.find("line99"), std::string::npos);
}

TEST(ProcessTest, DrainsLargeOutput) {
  // More than a pipe buffer (64 KiB) on each stream, so a runner that reads only after the
  // exit would deadlock.
  auto r =
      run(shell("i=0; while [ $i -lt 5000 ]; do echo out$i; echo err$i >&2; "
                "i=$((i+1)); done"));
  ASSERT_TRUE(r.result.ok());
  EXPECT_EQ(r.lines.size(), 10000u);
}

TEST(ProcessTest, ChildSeesEnvOverridesAndTheAgentsEnvironment) {
  ::setenv("REPLAGENT_TEST_INHERITED", "inherited", 1);
  ::setenv("REPLAGENT_TEST_OVERRIDDEN", "old", 1);
  auto spec =
      shell(R"(echo "$REPLAGENT_TEST_INHERITED $REPLAGENT_TEST_OVERRIDDEN $REPLAGENT_TEST_NEW")");
  spec.env = {{"REPLAGENT_TEST_OVERRIDDEN", "new"}, {"REPLAGENT_TEST_NEW", "added"}};
  auto r = run(spec);
  ::unsetenv("REPLAGENT_TEST_INHERITED");
  ::unsetenv("REPLAGENT_TEST_OVERRIDDEN");
  ASSERT_TRUE(r.result.ok());
  EXPECT_EQ(r.lines, (std::vector<std::string>{"inherited new added"}));
}

// The state letter of /proc/<pid>/stat ('Z' zombie, 'S' sleeping, ...); 0 once it is gone.
char proc_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return 0;
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? 0 : stat[paren + 2];
}

// An agent killed with SIGKILL (OOM killer, kill -9 outside a container) takes its child with
// it (PR_SET_PDEATHSIG): a silent child would otherwise run on (a noisy one dies of SIGPIPE
// at its next write into the dead agent's pipe, so the child here writes nothing).
TEST(ProcessTest, ChildDiesWithTheAgent) {
  char tmpl[] = "/tmp/replagent-pdeathsig-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::filesystem::path pid_file = std::filesystem::path(tmpl) / "pid";
  const pid_t agent = ::fork();
  ASSERT_GE(agent, 0);
  if (agent == 0) {
    make_boost_process_runner({})->run(
        shell("echo $$ > " + pid_file.string() + ".tmp && mv " + pid_file.string() + ".tmp " +
              pid_file.string() + " && exec sleep 60"),
        [](std::string_view) {});
    ::_exit(0);
  }
  pid_t child = 0;
  for (int i = 0; i < 500 && child == 0; ++i) {
    std::ifstream in(pid_file);
    if (!(in >> child)) child = 0;
    if (child == 0) std::this_thread::sleep_for(milliseconds(10));
  }
  ::kill(agent, SIGKILL);
  ::waitpid(agent, nullptr, 0);
  ASSERT_NE(child, 0) << "the child never started";
  char state = proc_state(child);
  for (int i = 0; i < 200 && state != 0 && state != 'Z'; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
    state = proc_state(child);
  }
  const bool died = state == 0 || state == 'Z';
  if (!died) ::kill(child, SIGKILL);
  std::filesystem::remove_all(tmpl);
  EXPECT_TRUE(died) << "the child outlived its agent (state " << state << ")";
}

TEST(ProcessTest, ProgramNotFoundSaysWhereItLooked) {
  ProcessSpec spec;
  spec.program = "replagent-no-such-program";
  spec.search_dir = "/nonexistent/bin";
  auto r = run(spec);
  EXPECT_EQ(r.result.end, End::kNotStarted);
  EXPECT_EQ(r.result.error,
            "program 'replagent-no-such-program' not found in /nonexistent/bin or PATH "
            "(set postgres.bin_dir)");
  EXPECT_FALSE(r.result.ok());

  spec.search_dir.clear();
  EXPECT_EQ(run(spec).result.error,
            "program 'replagent-no-such-program' not found in PATH (set postgres.bin_dir)");

  spec.program = "/nonexistent/pg_basebackup";
  EXPECT_EQ(run(spec).result.end, End::kNotStarted);
}

TEST(ProcessTest, FindsProgramsInSearchDirBeforePath) {
  EXPECT_FALSE(find_program("sh", "").empty());
  EXPECT_EQ(find_program("/bin/sh", ""), "/bin/sh");
  EXPECT_EQ(find_program("/nonexistent/sh", ""), "");

  const auto dir =
      std::filesystem::temp_directory_path() / ("replagent-find-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto tool = dir / "sh";
  std::ofstream(tool) << "#!/bin/sh\necho from-search-dir\n";
  ::chmod(tool.c_str(), 0755);
  EXPECT_EQ(find_program("sh", dir.string()), tool.string());

  ProcessSpec spec;
  spec.program = "sh";
  spec.search_dir = dir.string();
  auto r = run(spec);
  EXPECT_EQ(r.lines, (std::vector<std::string>{"from-search-dir"}));
  std::filesystem::remove_all(dir);
}

TEST(ProcessTest, TimeoutEndsTheChildAndItsChildren) {
  auto spec = shell("echo $$; sleep 30; echo not reached");
  spec.timeout = milliseconds(300);
  const auto start = std::chrono::steady_clock::now();
  auto r = run(spec);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(r.result.end, End::kTimedOut);
  EXPECT_FALSE(r.result.ok());
  const pid_t pid = first_line_pid(r);
  ASSERT_GT(pid, 0);
  EXPECT_FALSE(process_exists(pid));
}

TEST(ProcessTest, TimeoutKillsAChildThatIgnoresSigterm) {
  auto spec = shell("trap '' TERM; echo $$; sleep 30");
  spec.timeout = milliseconds(200);
  spec.kill_grace = milliseconds(300);
  auto r = run(spec);
  EXPECT_EQ(r.result.end, End::kTimedOut);
  EXPECT_NE(r.result.error.find("SIGKILL"), std::string::npos) << r.result.error;
  const pid_t pid = first_line_pid(r);
  ASSERT_GT(pid, 0);
  EXPECT_FALSE(process_exists(pid));
}

TEST(ProcessTest, TimeoutAlsoEndsGrandchildrenThatIgnoreSigterm) {
  // sh dies on SIGTERM at once; its background child ignores SIGTERM and holds the pipes.
  auto spec = shell("(trap '' TERM; exec sleep 30) & echo $!; wait");
  spec.timeout = milliseconds(200);
  spec.kill_grace = milliseconds(20000);
  const auto start = std::chrono::steady_clock::now();
  auto r = run(spec);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(r.result.end, End::kTimedOut);
  const pid_t grandchild = first_line_pid(r);
  ASSERT_GT(grandchild, 0);
  EXPECT_FALSE(process_exists(grandchild));
}

TEST(ProcessTest, ChildKilledBySomeoneElseIsSignaled) {
  auto r = run(shell("kill -KILL $$"));
  EXPECT_EQ(r.result.end, End::kSignaled);
  EXPECT_EQ(r.result.term_signal, SIGKILL);
  EXPECT_EQ(r.result.describe(), "killed by SIGKILL");
  EXPECT_FALSE(r.result.ok());
}

TEST(ProcessTest, ThrowingLineHandlerLeavesNoChildBehind) {
  pid_t pid = 0;
  EXPECT_THROW(
      make_boost_process_runner({})->run(shell("echo $$; sleep 30"),
                                         [&](std::string_view line) {
                                           pid = static_cast<pid_t>(std::stol(std::string(line)));
                                           throw std::runtime_error("handler failed");
                                         }),
      std::runtime_error);
  ASSERT_GT(pid, 0);
  EXPECT_FALSE(process_exists(pid));
}

TEST(ProcessTest, StopRequestEndsTheChild) {
  StopSource stop;
  Ran r;
  const auto start = std::chrono::steady_clock::now();
  // The stop arrives once the child runs (it printed its pid), not after a guessed delay.
  r.result = make_boost_process_runner(stop.token())
                 ->run(shell("echo $$; sleep 30"), [&](std::string_view line) {
                   r.lines.emplace_back(line);
                   stop.request_stop();
                 });
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.result.end, End::kStopped);
  EXPECT_LT(took, std::chrono::seconds(10));
  const pid_t pid = first_line_pid(r);
  ASSERT_GT(pid, 0);
  EXPECT_FALSE(process_exists(pid));
}

TEST(ProcessTest, DoesNotStartWhenAlreadyStopping) {
  StopSource stop;
  stop.request_stop();
  auto r = run(shell("echo started"), stop.token());
  EXPECT_EQ(r.result.end, End::kStopped);
  EXPECT_TRUE(r.lines.empty());
}

TEST(ProcessTest, ChildDoesNotInheritTheStopPipe) {
  StopSource stop;
  const int fd = stop.token().fd();
  auto r = run(shell("[ -e /proc/self/fd/" + std::to_string(fd) + " ] && echo inherited; exit 0"));
  ASSERT_TRUE(r.result.ok());
  EXPECT_TRUE(r.lines.empty());
}

}  // namespace
}  // namespace replagent::agent
