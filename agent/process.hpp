#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/signals.hpp"

namespace replagent::agent {

// A child process to run. argv never carries a secret: passwords go through a 0600 passfile
// named in `env` (PGPASSFILE), which is visible only to the same user.
struct ProcessSpec {
  std::string program;  // absolute path, or a name searched in `search_dir` then PATH
  std::vector<std::string> args;
  std::map<std::string, std::string> env;  // added to (overriding) the agent's environment
  std::string search_dir;                  // postgres.bin_dir; empty = PATH only
  // Stop the child once this much time has passed (SIGTERM, then SIGKILL after the grace).
  std::optional<std::chrono::milliseconds> timeout;
  std::chrono::milliseconds kill_grace{5000};
  // A clean-up step (stopping a temporary server) runs and is waited for even after a stop
  // was requested: skipping it would leave a server running on the data directory.
  bool runs_while_stopping = false;
};

struct ProcessResult {
  enum class End { kExited, kSignaled, kStopped, kTimedOut, kNotStarted };
  End end = End::kNotStarted;
  int exit_code = -1;       // when kExited
  int term_signal = 0;      // when kSignaled: the signal that ended the child
  std::string error;        // kNotStarted: why (program not found, ...); kStopped/kTimedOut:
                            // how it was ended (e.g. "SIGKILL after the 5s grace period")
  std::string output_tail;  // the last lines the child printed (stdout+stderr), for messages
  bool ok() const { return end == End::kExited && exit_code == 0; }
  std::string describe() const;  // "exited with status 1", "stopped by SIGTERM", ...
};

// Receives each line the child prints on stdout or stderr; '\r' ends a line too, so
// pg_basebackup's --progress updates arrive one by one.
using LineHandler = std::function<void(std::string_view line)>;

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // Runs to completion. A stop request (the runner's StopToken: SIGTERM to the agent) terminates
  // the child (SIGTERM, then SIGKILL after kill_grace) and returns End::kStopped.
  virtual ProcessResult run(const ProcessSpec& spec, const LineHandler& on_line) = 0;
};

std::unique_ptr<ProcessRunner> make_boost_process_runner(StopToken stop);

// Finds `name` in `search_dir` (if set) then PATH; empty when not found.
std::string find_program(const std::string& name, const std::string& search_dir);

}  // namespace replagent::agent
