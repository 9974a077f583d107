// test/support/: the integration harness. It starts real servers (PostgreSQL, dnsmasq) and the
// replagent executable as child processes on loopback, tracks every one of them by pid and
// ends them (only them) when a test ends, passed or failed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace replagent::test {

// How a child ended.
struct ExitStatus {
  bool exited = false;  // true: exit(code); false: killed by `signal`
  int code = -1;
  int signal = 0;
  // exit code when exited, else 128 + signal (the shell's convention), for one-line asserts.
  int shell_code() const { return exited ? code : 128 + signal; }
  std::string describe() const;
};

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is an absolute path
  // The child's environment is the test's own minus variables that would leak settings into
  // the child (REPLAGENT_*, PG*, POD_*), then `env` on top.
  std::map<std::string, std::string> env;
  std::filesystem::path stdout_path;  // empty: /dev/null
  std::filesystem::path stderr_path;  // empty: /dev/null
  std::filesystem::path cwd;          // empty: inherit
  // If the test process dies (crash, abort, ctest timeout), the kernel sends this to the child
  // so no server outlives the run. 0: none.
  int parent_death_signal = 9;
};

// A child process in its own process group (pgid == pid), so the whole tree it starts
// (postgres backends, pg_basebackup) can be signalled or checked at once. The destructor
// SIGKILLs the group if it is still running and reaps the child.
class ChildProcess {
 public:
  explicit ChildProcess(const SpawnOptions& options);  // throws std::runtime_error
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }
  const std::filesystem::path& stdout_path() const { return stdout_path_; }
  const std::filesystem::path& stderr_path() const { return stderr_path_; }

  // Non-blocking: the status once the child has ended.
  std::optional<ExitStatus> poll();
  // Waits up to `timeout`; nullopt when still running.
  std::optional<ExitStatus> wait_for(std::chrono::milliseconds timeout);
  bool running() { return !poll().has_value(); }

  void signal(int sig);        // the child itself (no-op once reaped)
  void signal_group(int sig);  // every process in its group
  // True while any process of the child's group exists (the child or what it left behind).
  bool group_alive() const;
  // SIGTERM to the child, wait `grace`, then SIGKILL to the group; always reaps.
  ExitStatus stop(int first_signal, std::chrono::milliseconds grace);

 private:
  pid_t pid_ = -1;
  std::string name_;
  std::filesystem::path stdout_path_;
  std::filesystem::path stderr_path_;
  std::optional<ExitStatus> status_;
};

struct RunResult {
  ExitStatus status;
  bool timed_out = false;  // killed by the harness after the timeout
  std::string out;
  std::string err;
  std::chrono::milliseconds elapsed{0};
  int exit_code() const { return timed_out ? -1 : status.shell_code(); }
};

// Runs a child to completion (SIGKILL to its group after `timeout`) and collects its output.
// Output goes to the given paths when set (kept for failure reports), else temporary files.
RunResult run_process(SpawnOptions options, std::chrono::milliseconds timeout);

// Process inspection via /proc, for "no child left behind" checks.
struct ProcInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgid = 0;
  std::string comm;
  std::string cmdline;  // arguments joined by spaces
};
std::vector<ProcInfo> list_processes();
// Processes in process group `pgid` (empty once the whole group is gone).
std::vector<ProcInfo> processes_in_group(pid_t pgid);
// Processes whose parent is this test process but that it did not start itself: orphans of
// our children, adopted because the test process is a child subreaper (see process.cpp).
std::vector<ProcInfo> adopted_orphans();
// Processes whose command line contains `text` (a scratch path: what a test's children use).
std::vector<ProcInfo> processes_mentioning(const std::string& text);
std::string describe(const std::vector<ProcInfo>& procs);

}  // namespace replagent::test
