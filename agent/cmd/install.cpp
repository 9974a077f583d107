// `replagent install DIR`: copy this binary into a shared volume (the first init container).
#include "agent/install.hpp"

#include "agent/cmd/commands.hpp"

namespace replagent::cmd {
namespace {

constexpr const char* kHelp =
    R"(replagent install DIR — copy this executable to DIR/replagent (mode 0755), atomically:
a temporary file in DIR renamed over the old one, so a running copy is never half-written.
Used by the first init container to put the agent on a shared emptyDir volume.

Example:
  replagent install /replagent/bin
)";

int run(const agent::CommandLine& cl) {
  load_settings(cl);  // a broken environment fails here, as for every command
  agent::install_self(cl.positional.at(0));
  return 0;
}

}  // namespace

agent::Command install_command() {
  return {.name = "install",
          .min_positional = 1,
          .max_positional = 1,
          .argument = agent::ArgumentSpec{"DIR", "the directory to copy the binary into",
                                          "replagent install /replagent/bin"},
          .flags = {},
          .summary = "copy this binary into DIR (shared volume)",
          .help = kHelp,
          .handler = run};
}

}  // namespace replagent::cmd
