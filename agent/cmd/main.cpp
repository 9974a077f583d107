// replagent: one binary, several roles. main only parses and dispatches through the command
// table (agent/cmd/commands.hpp); each verb file wires its command.
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <iostream>
#include <string>
#include <vector>

#include "agent/cli.hpp"
#include "agent/cmd/commands.hpp"
#include "agent/errors.hpp"
#include "agent/logging.hpp"

namespace {

using namespace replagent;

int run(const agent::CommandLine& cl) {
  if (cl.help || cl.command.empty()) {
    std::cout << agent::help_text(cl.command, cmd::commands());
    return cl.help ? 0 : static_cast<int>(agent::ExitCode::kUsage);
  }
  // parse_command_line accepts only the table's commands.
  return agent::find_command(cl.command, cmd::commands())->handler(cl);
}

// The agent holds passwords in memory: no core file may carry them (RLIMIT_CORE 0), and
// not dumpable also keeps other processes of the same user from ptrace and /proc/<pid>/mem.
void forbid_core_dumps() {
  struct rlimit none {};
  ::setrlimit(RLIMIT_CORE, &none);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

}  // namespace

int main(int argc, char** argv) {
  forbid_core_dumps();
  // Until the config says otherwise, log text at info level so early errors are readable.
  agent::setup_logging(agent::LogFormat::kText, agent::LogLevel::kInfo);
  try {
    const agent::CommandLine cl =
        agent::parse_command_line(std::vector<std::string>(argv + 1, argv + argc), cmd::commands());
    if (cl.log_format)
      agent::setup_logging(*cl.log_format, cl.log_level.value_or(agent::LogLevel::kInfo));
    return run(cl);
  } catch (const agent::AgentError& e) {
    const std::string what = e.what();
    // A message that already says where to read on gets no second pointer.
    if (e.code() == agent::ExitCode::kUsage && what.find("--help") == std::string::npos &&
        what.find("--reference") == std::string::npos)
      spdlog::error("{} (see `replagent --help`)", e.what());
    else
      spdlog::error("{}", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    spdlog::error("unexpected error: {}", e.what());
    return static_cast<int>(agent::ExitCode::kFailed);
  }
}
