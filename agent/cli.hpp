#pragma once

#include <functional>
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

struct FlagSpec {
  const char* name;  // "max-lag" for --max-lag
  bool takes_value;
};

// The one positional argument a command may take, for the message when it is missing.
struct ArgumentSpec {
  const char* name;     // "KIND"
  const char* what;     // "ready, live, primary or replica"
  const char* example;  // "replagent probe ready"
};

// One subcommand: what the parser accepts, what --help says, and what runs it. The table of
// them is the composition root's (agent/cmd/commands.cpp); this parser knows no command.
struct Command {
  const char* name;
  int min_positional = 0;
  int max_positional = 0;
  std::optional<ArgumentSpec> argument;
  std::vector<FlagSpec> flags;
  const char* summary;  // one line for the overview
  const char* help;
  // Runs the command and returns its exit code; throws AgentError for errors the caller maps.
  std::function<int(const CommandLine&)> handler;
};

// Throws AgentError(kUsage) naming the flag and what was expected.
CommandLine parse_command_line(const std::vector<std::string>& args,
                               const std::vector<Command>& commands);

// The --help text of a subcommand (or the overview for ""), with an example.
std::string help_text(const std::string& command, const std::vector<Command>& commands);

// The entry of `name` in `commands`, nullptr when there is none.
const Command* find_command(const std::string& name, const std::vector<Command>& commands);

}  // namespace replagent::agent
