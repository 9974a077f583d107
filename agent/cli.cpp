#include "agent/cli.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "agent/errors.hpp"

namespace replagent::agent {
namespace {

// The overview: the commands come from the table, so none is left out of it.
std::string overview(const std::vector<Command>& table) {
  std::string commands;
  for (const auto& c : table) {
    std::string name = c.name;
    if (c.argument) name += std::string(" ") + c.argument->name;
    commands += fmt::format("  {:<20}  {}\n", name, c.summary);
  }
  return fmt::format(
      R"(replagent — PostgreSQL streaming replication for a Kubernetes StatefulSet, in one binary.

Usage: replagent [global flags] COMMAND [flags]

Commands:
{}
Global flags:
  --config FILE         TOML settings file (default /etc/replagent/replagent.toml if present)
  --set KEY=VALUE       set one setting, e.g. --set init.wait_timeout=5m (repeatable)
  --log-format FORMAT   text (default) or json
  --log-level LEVEL     trace, debug, info (default), warn, error
  -h, --help            help; `replagent COMMAND --help` for a command

Every setting, exit code, endpoint and metric: `replagent config --reference`.
Example: POD_NAME=todo-db-1 PGDATA=/data/pgdata replagent init --log-format json
)",
      commands);
}

std::string command_names(const std::vector<Command>& table) {
  std::string out;
  for (const auto& c : table) out += (out.empty() ? "" : ", ") + std::string(c.name);
  return out;
}

// One line for a wrong number of arguments: what is missing and what it may be, or what
// was too much (the whole help text in an error line buried the point).
std::string argument_error(const Command& spec, const std::vector<std::string>& given) {
  if (!spec.argument) {
    return fmt::format("replagent {} takes no arguments, got '{}' (see `replagent {} --help`)",
                       spec.name, given.front(), spec.name);
  }
  const ArgumentSpec& a = *spec.argument;
  if (given.empty()) {
    return fmt::format("replagent {} needs {}: {} (e.g. `{}`; see `replagent {} --help`)",
                       spec.name, a.name, a.what, a.example, spec.name);
  }
  std::string list;
  for (const auto& g : given) list += (list.empty() ? "'" : ", '") + g + "'";
  return fmt::format("replagent {} takes one {} ({}), got {}: {} (see `replagent {} --help`)",
                     spec.name, a.name, a.what, given.size(), list, spec.name);
}

}  // namespace

const Command* find_command(const std::string& name, const std::vector<Command>& commands) {
  for (const auto& c : commands)
    if (name == c.name) return &c;
  return nullptr;
}

CommandLine parse_command_line(const std::vector<std::string>& args,
                               const std::vector<Command>& commands) {
  CommandLine cl;
  const Command* spec = nullptr;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    std::optional<std::string> inline_value;
    if (arg.rfind("--", 0) == 0) {
      if (auto eq = arg.find('='); eq != std::string::npos) {
        inline_value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      }
    }
    auto value = [&](const char* what) -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size() || args[i + 1].rfind("--", 0) == 0)
        throw usage_error(fmt::format("{} needs a value: {}", arg, what));
      return args[++i];
    };
    if (arg == "-h" || arg == "--help") {
      cl.help = true;
    } else if (arg == "--config") {
      cl.config_file = value("a TOML file path");
    } else if (arg == "--log-format") {
      const std::string format = value("text or json");
      cl.log_format = parse_log_format(format);
      if (!cl.log_format)
        throw usage_error(fmt::format("--log-format {}: expected text or json", format));
    } else if (arg == "--log-level") {
      const std::string level = value("trace, debug, info, warn or error");
      cl.log_level = parse_log_level(level);
      if (!cl.log_level)
        throw usage_error(
            fmt::format("--log-level {}: expected trace, debug, info, warn or error", level));
    } else if (arg == "--set") {
      const std::string kv = value("KEY=VALUE, e.g. init.wait_timeout=5m");
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        throw usage_error(
            fmt::format("--set {}: expected KEY=VALUE, e.g. init.wait_timeout=5m", kv));
      cl.sets.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else if (arg.rfind("-", 0) == 0 && arg.size() > 1) {
      const FlagSpec* flag = nullptr;
      if (spec) {
        for (const auto& f : spec->flags)
          if (arg == std::string("--") + f.name) flag = &f;
      }
      if (!flag) {
        throw usage_error(fmt::format("unknown flag {}{} (see `replagent {}--help`)", arg,
                                      spec ? fmt::format(" for '{}'", spec->name) : "",
                                      spec ? std::string(spec->name) + " " : ""));
      }
      cl.options[flag->name] = flag->takes_value ? value("see --help") : "true";
    } else if (!spec) {
      spec = find_command(arg, commands);
      if (!spec) {
        throw usage_error(
            fmt::format("unknown command '{}' (commands: {}; see `replagent "
                        "--help`)",
                        arg, command_names(commands)));
      }
      cl.command = arg;
    } else {
      cl.positional.push_back(arg);
    }
  }
  if (spec && !cl.help) {
    const int n = static_cast<int>(cl.positional.size());
    if (n < spec->min_positional || n > spec->max_positional)
      throw usage_error(argument_error(*spec, cl.positional));
  }
  return cl;
}

std::string help_text(const std::string& command, const std::vector<Command>& commands) {
  if (const Command* spec = find_command(command, commands)) return spec->help;
  return overview(commands);
}

}  // namespace replagent::agent
