// `replagent version`.
#include "agent/version.hpp"

#include <iostream>

#include "agent/cmd/commands.hpp"

namespace replagent::cmd {
namespace {

constexpr const char* kHelp = R"(replagent version — print the version and exit.

Example:
  replagent version
)";

int run(const agent::CommandLine&) {
  std::cout << "replagent " << agent::kVersion << "\n";
  return 0;
}

}  // namespace

agent::Command version_command() {
  return {.name = "version",
          .min_positional = 0,
          .max_positional = 0,
          .argument = std::nullopt,
          .flags = {},
          .summary = "print the version",
          .help = kHelp,
          .handler = run};
}

}  // namespace replagent::cmd
