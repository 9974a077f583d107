#include "agent/cmd/commands.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <string>

#include "agent/logging.hpp"
#include "agent/signals.hpp"

namespace replagent::cmd {
namespace {

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

}  // namespace

const std::vector<agent::Command>& commands() {
  static const std::vector<agent::Command> kCommands = {
      init_command(),   sidecar_command(), probe_command(),  promote_command(),
      backup_command(), install_command(), config_command(), version_command(),
  };
  return kCommands;
}

agent::Config load_settings(const agent::CommandLine& cl) {
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
  agent::install_stop_handlers();
  return config;
}

}  // namespace replagent::cmd
