#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/logging.hpp"

namespace replagent::agent {

// What the user asked for on the command line. Global flags may stand before or after the
// subcommand; each subcommand accepts only its own flags (see help_text).
struct CommandLine {
  std::string command;                  // "init", "sidecar", ... ; empty: none given
  std::vector<std::string> positional;  // e.g. the probe kind, the install directory
  std::optional<std::string> config_file;
  std::optional<LogFormat> log_format;
  std::optional<LogLevel> log_level;
  std::vector<std::pair<std::string, std::string>> sets;  // --set key=value
  std::map<std::string, std::string> options;             // subcommand flags: "max-lag" -> "1MB"
  bool help = false;
};

// Throws AgentError(kUsage) naming the flag and what was expected.
CommandLine parse_command_line(const std::vector<std::string>& args);

// The --help text of a subcommand (or the overview for ""), with an example.
std::string help_text(const std::string& command);

}  // namespace replagent::agent
