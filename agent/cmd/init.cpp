// `replagent init` (an init container): prepare this pod's data directory, then exit.
#include "roles/init.hpp"

#include "agent/cmd/commands.hpp"

namespace replagent::cmd {
namespace {

constexpr const char* kHelp =
    R"(replagent init — prepare this pod's PostgreSQL data directory, then exit (init container)

The pod's ordinal comes from its name (POD_NAME, else the hostname): todo-db-1 -> 1.
  primary (ordinal pod.primary_ordinal, default 0):
    empty PGDATA    -> initdb (checksums on), replication settings in replagent.conf,
                       pg_hba entries, the replication, monitoring and backup roles, all in a
                       temporary directory that is renamed into place when complete
    existing PGDATA -> refresh replagent.conf and pg_hba entries, and bring the roles'
                       privileges and passwords in step with their files (a temporary server
                       on a private socket); data is never touched
  replica (any other ordinal):
    valid replica data of this cluster -> refresh primary_conninfo, no clone (well under 1 s)
    empty PGDATA -> resolve <set>-<primary>.<service>.<namespace>.svc.<domain> (c-ares),
                    wait until it accepts connections, pg_basebackup -X stream into a
                    temporary directory beside PGDATA, pg_verifybackup, fsync, rename
    other data (another cluster, a former primary) -> exit 5, nothing deleted
                    (init.on_foreign_data = "reclone" allows a re-clone)

Exit codes: 0 done, 2 config error, 3 timed out waiting for DNS or the primary,
            4 clone failed, 5 refused to touch the data directory.

Example (a replica, pod 1 of todo-db):
  POD_NAME=todo-db-1 PGDATA=/var/lib/postgresql/data/pgdata \
  REPLAGENT_POSTGRES_REPLICATION_PASSWORD_FILE=/secrets/replication-password \
  replagent init --log-format json
)";

int run(const agent::CommandLine& cl) {
  const agent::Config config = load_settings(cl);
  const agent::StopToken stop = agent::process_stop();
  auto resolver = agent::make_cares_resolver(config.dns.servers, config.dns.timeout, stop);
  auto pg = agent::make_libpq_client();
  auto replication = agent::make_replication_client(*pg);
  auto runner = agent::make_boost_process_runner(stop);
  agent::SystemClock clock(stop);
  roles::InitOutcome out;
  try {
    out = roles::run_init(config, {*resolver, *pg, *replication, *runner, clock, stop});
  } catch (const agent::AgentError& e) {
    out = roles::InitOutcome{e.code(), e.what(), {}, {}};
  }
  roles::report_init_outcome(config, out);
  return static_cast<int>(out.code);
}

}  // namespace

agent::Command init_command() {
  return {.name = "init",
          .min_positional = 0,
          .max_positional = 0,
          .argument = std::nullopt,
          .flags = {},
          .summary = "prepare this pod's data directory (primary: initdb; replica: clone)",
          .help = kHelp,
          .handler = run};
}

}  // namespace replagent::cmd
