// `replagent config [--reference]`: the effective settings, or the reference of every setting.
#include <iostream>

#include "agent/cmd/commands.hpp"
#include "agent/cmd/reference.hpp"

namespace replagent::cmd {
namespace {

constexpr const char* kHelp =
    R"(replagent config — validate the settings and print the effective config as TOML,
passwords redacted. Sources, lowest precedence first: built-in defaults, the TOML file
(--config, default /etc/replagent/replagent.toml if present), the environment
(REPLAGENT_<SECTION>_<KEY>, plus POD_NAME, POD_NAMESPACE, PGDATA, HOSTNAME, POSTGRES_PASSWORD),
flags (--set section.key=value; never a password: argv is readable in the whole pod).
Unknown keys are errors.

  --reference   print the reference instead (Markdown, without reading any setting): every
                key with its environment variable, default and meaning, the exit codes, the
                sidecar's endpoints and metrics; docs/configuration.md is its copy

Example:
  REPLAGENT_INIT_WAIT_TIMEOUT=5m replagent config --set postgres.port=5433
)";

int run(const agent::CommandLine& cl) {
  if (cl.options.count("reference")) {
    // The built-in reference, not this environment's settings: nothing is read.
    std::cout << reference_markdown();
    return 0;
  }
  std::cout << agent::render_config(load_settings(cl));
  return 0;
}

}  // namespace

agent::Command config_command() {
  return {.name = "config",
          .min_positional = 0,
          .max_positional = 0,
          .argument = std::nullopt,
          .flags = {{"reference", false}},
          .summary = "validate and print the effective config, secrets redacted",
          .help = kHelp,
          .handler = run};
}

}  // namespace replagent::cmd
