// `replagent promote`: the runbook's command for a lost primary volume (roles/promote.hpp).
#include "roles/promote.hpp"

#include <iostream>
#include <string>

#include "agent/cmd/commands.hpp"
#include "agent/dns.hpp"
#include "agent/pg.hpp"

namespace replagent::cmd {
namespace {

constexpr const char* kHelp =
    R"(replagent promote [--socket-dir DIR] — make this pod's replica the primary (the runbook
for a primary whose volume is lost: README "Losing the primary's volume"), then exit.

Refuses (exit 5) while the configured primary <set>-<primary>.<service>... still answers at
any address it resolves to, and (exit 3) when DNS cannot tell; a server that is already a
primary is left alone (exit 0). Runs pg_promote on the local server over its unix socket
(--socket-dir, default /var/run/postgresql) as the superuser with peer authentication, waits
for it, and prints the received WAL position and the next step:
  helm upgrade <release> <chart> --reuse-values --set primaryOrdinal=<this pod's ordinal>

Example:
  kubectl exec todo-db-1 -c postgres -- replagent promote
)";

int run(const agent::CommandLine& cl) {
  const agent::Config config = load_settings(cl);
  const auto it = cl.options.find("socket-dir");
  const std::string socket_dir = it == cl.options.end() ? "/var/run/postgresql" : it->second;
  auto pg = agent::make_libpq_client();
  auto resolver =
      agent::make_cares_resolver(config.dns.servers, config.dns.timeout, agent::process_stop());
  std::cout << roles::run_promote(config, socket_dir, *pg, *resolver);
  return 0;
}

}  // namespace

agent::Command promote_command() {
  return {.name = "promote",
          .min_positional = 0,
          .max_positional = 0,
          .argument = std::nullopt,
          .flags = {{"socket-dir", true}},
          .summary = "make this replica the primary (the runbook for a lost primary volume)",
          .help = kHelp,
          .handler = run};
}

}  // namespace replagent::cmd
