// `replagent probe KIND`: a kubelet exec probe, exit 0 or 1 with one line saying why.
#include "probes/probe.hpp"

#include <iostream>

#include "agent/cmd/commands.hpp"

namespace replagent::cmd {
namespace {

constexpr const char* kHelp =
    R"(replagent probe ready|live|primary|replica [--max-lag SIZE] [--timeout DURATION]
Exit 0 when the check passes, 1 when it does not, with one line saying why (kubelet exec probe).

Example:
  replagent probe ready --max-lag 16MB
)";

int run(const agent::CommandLine& cl) {
  const agent::Config config = load_settings(cl);
  const probes::ProbeOptions options =
      probes::parse_probe_options(cl.positional.at(0), cl.options, config);
  const probes::ProbeResult result = probes::run_probe(config, options);
  // One line for the kubelet's event (it keeps the probe's output).
  std::cout << probes::probe_line(options, result) << std::endl;
  return result.ok ? 0 : 1;
}

}  // namespace

agent::Command probe_command() {
  return {.name = "probe",
          .min_positional = 1,
          .max_positional = 1,
          .argument = agent::ArgumentSpec{"KIND", "ready, live, primary or replica",
                                          "replagent probe ready"},
          .flags = {{"max-lag", true}, {"timeout", true}},
          .summary = "readiness/liveness check for a kubelet exec probe",
          .help = kHelp,
          .handler = run};
}

}  // namespace replagent::cmd
