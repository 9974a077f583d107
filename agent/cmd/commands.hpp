#pragma once

// The composition root's commands: one verb file per subcommand (agent/cmd/<verb>.cpp), each
// building the real effects (libpq, c-ares, Boost.Process, the system clock), calling the
// layer's run_* and mapping its outcome to an exit code. The table below is the one place a
// command is listed: the parser, --help and main all read it.

#include <vector>

#include "agent/cli.hpp"
#include "agent/config.hpp"

namespace replagent::cmd {

// Every command, in the order --help lists them.
const std::vector<agent::Command>& commands();

agent::Command init_command();
agent::Command sidecar_command();
agent::Command probe_command();
agent::Command promote_command();
agent::Command backup_command();
agent::Command install_command();
agent::Command config_command();
agent::Command version_command();

// The settings of this run (defaults < file < environment < --set flags), with logging set up
// as they say, the passwords scrubbed from the environment and SIGTERM/SIGINT turned into a
// stop request. Throws AgentError(kUsage) naming the key for a bad setting.
agent::Config load_settings(const agent::CommandLine& cl);

}  // namespace replagent::cmd
