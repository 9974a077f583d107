// replagent: one binary, several roles. main only parses, loads the config and dispatches.
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "agent/cli.hpp"
#include "agent/config.hpp"
#include "agent/errors.hpp"
#include "agent/install.hpp"
#include "agent/logging.hpp"
#include "agent/reference.hpp"
#include "agent/signals.hpp"
#include "probes/probe.hpp"
#include "roles/promote.hpp"
#include "probes/sidecar.hpp"
#include "roles/backup.hpp"
#include "roles/init.hpp"

namespace {

using namespace replagent;

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

agent::Config load(const agent::CommandLine& cl) {
  agent::ConfigInputs in;
  in.file = cl.config_file;
  in.env = agent::current_environment();
  in.flags = cl.sets;
  if (cl.log_format) in.flags.emplace_back("log.format", agent::to_string(*cl.log_format));
  if (cl.log_level) in.flags.emplace_back("log.level", agent::to_string(*cl.log_level));
  in.hostname = hostname();
  std::vector<std::string> warnings;
  agent::Config config = agent::load_config(in, &warnings);
  agent::setup_logging(config.log.format, config.log.level);
  for (const auto& w : warnings) spdlog::warn("{}", w);
  // The passwords now live in the config only: no child, and no later /proc/self/environ
  // reader, sees them in the environment.
  agent::scrub_secret_environment();
  return config;
}

int run(const agent::CommandLine& cl) {
  if (cl.help || cl.command.empty()) {
    std::cout << agent::help_text(cl.command);
    return cl.help ? 0 : static_cast<int>(agent::ExitCode::kUsage);
  }
  if (cl.command == "version") {
    std::cout << "replagent " << REPLAGENT_VERSION << "\n";
    return 0;
  }
  if (cl.command == "config" && cl.options.count("reference")) {
    // The built-in reference, not this environment's settings: nothing is read.
    std::cout << agent::reference_markdown();
    return 0;
  }
  agent::Config config = load(cl);  // also sets up logging as configured
  agent::install_stop_handlers();
  if (cl.command == "config") {
    std::cout << agent::render_config(config);
    return 0;
  }
  if (cl.command == "install") {
    agent::install_self(cl.positional.at(0));
    return 0;
  }
  if (cl.command == "init") return roles::init_command(config);
  if (cl.command == "sidecar") return probes::sidecar_command(config);
  if (cl.command == "backup") return roles::backup_command(config, cl.options);
  if (cl.command == "probe") return probes::probe_command(config, cl.positional.at(0), cl.options);
  if (cl.command == "promote") return roles::promote_command(config, cl.options);
  throw agent::AgentError(agent::ExitCode::kFailed,
                          "'" + cl.command + "' is not part of this build yet");
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
        agent::parse_command_line(std::vector<std::string>(argv + 1, argv + argc));
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
