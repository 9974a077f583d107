// Processes of the local StatefulSet: started detached (they outlive the replagent-sts that
// started them, as a pod outlives a kubectl command) and found again through pid files.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "test/support/pod_env.hpp"

namespace replagent::test::sts {

// Alive: exists and is not a zombie (a test harness that is a child subreaper may reap the
// set's daemons late).
bool alive(pid_t pid);
// The pid in a pid file, only if it still runs a command line containing `pattern` (never
// signal a stranger that reused the pid).
std::optional<pid_t> pid_of(const std::filesystem::path& pid_file, const std::string& pattern);
// Waits up to `seconds` for the process to end; false if it still runs.
bool wait_gone(pid_t pid, int seconds);
// The processes whose parent is `pid`.
std::vector<pid_t> children_of(pid_t pid);
void write_pid_file(const std::filesystem::path& file, pid_t pid);

struct Spawn {
  explicit Spawn(std::vector<std::string> args) : argv(std::move(args)) {}
  std::vector<std::string> argv;  // argv[0]: a path, or a name looked up in PATH
  EnvList env;                    // on top of this process's own environment
  // Where stdout and stderr go (appended); empty: /dev/null.
  std::filesystem::path log;
  std::string input;      // stdin; empty: /dev/null
  bool detached = false;  // a session of its own: no signal to our group reaches it
};

// Starts it and returns at once (the caller writes the pid file).
pid_t spawn(const Spawn& s);
// Runs it to the end: the shell's $? (128 + signal when killed).
int run(const Spawn& s);
// Runs it to the end with stdout captured (stderr per `s.log`): exit code and output.
std::pair<int, std::string> capture(const Spawn& s);
// The postgres container: a supervisor in a session of its own starts `argv` (output to
// `log`), writes its pid to `pid_file` and stays its parent, reaping it as a pod's runtime does:
// a killed postmaster must not linger as a zombie whose pid, still in postmaster.pid, would make
// the next postmaster refuse to start.
void spawn_supervised(const std::vector<std::string>& argv, const std::filesystem::path& log,
                      const std::filesystem::path& pid_file);
// Replaces this process (psql, runuser).
[[noreturn]] void exec(const std::vector<std::string>& argv, const EnvList& env);

}  // namespace replagent::test::sts
