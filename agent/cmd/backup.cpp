// `replagent backup [--list | --verify-restore]`: one pg_dump backup (a Job/CronJob).
#include "roles/backup.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>

#include "agent/clock.hpp"
#include "agent/cmd/commands.hpp"
#include "agent/dns.hpp"
#include "agent/errors.hpp"
#include "agent/pg.hpp"
#include "agent/pg_replication.hpp"
#include "agent/process.hpp"

namespace replagent::cmd {
namespace {

constexpr const char* kHelp =
    R"(replagent backup [--list | --verify-restore] — one pg_dump backup into backup.dir, then
exit (Job/CronJob).

  backup            source: backup.source = replica (default: a streaming replica found through
                    the headless Service, else the primary), primary, or a host. pg_dump -Fc
                    into <set>-<UTC time>.dump.partial, fsync, pg_restore --list, .sha256 and
                    .counts (row counts at the dump's snapshot) beside it, rename to .dump; then
                    keep the newest backup.keep (and drop those older than backup.max_age), never
                    the new one, never a file of another name. A run that finds another one
                    holding backup.dir/.lock exits 0 ("another backup is running").
  --list            each backup with size, age and whether its checksum still matches
                    (exit 4 if any does not)
  --verify-restore  restore the newest backup into a temporary server (initdb under $TMPDIR,
                    unix socket only) and compare every table's row count with the source's
                    at the dump's snapshot (exit 4 on any difference or a bad checksum)

Dumps as postgres.backup_user (pg_read_all_data), never the superuser; the restore check
restores as an ordinary role of its temporary server.
In a Job (not a pod of the set) set REPLAGENT_POD_SERVICE to the headless Service, e.g. todo-db.
Exit codes: 0 done (or another backup running), 2 config error, 4 backup or check failed.

Example:
  replagent backup --set backup.dir=/backup --set backup.keep=7 --set backup.max_age=168h
)";

int run(const agent::CommandLine& cl) {
  const agent::Config config = load_settings(cl);
  if (cl.options.count("list") && cl.options.count("verify-restore"))
    throw agent::usage_error("--list and --verify-restore are separate runs: pick one");
  const agent::StopToken stop = agent::process_stop();
  auto resolver = agent::make_cares_resolver(config.dns.servers, config.dns.timeout, stop);
  auto pg = agent::make_libpq_client();
  auto replication = agent::make_replication_client(*pg);
  auto runner = agent::make_boost_process_runner(stop);
  agent::SystemClock clock(stop);
  roles::BackupDeps deps{*resolver, *pg, *replication, *runner, clock, stop};
  roles::BackupOutcome out;
  const char* what = "backup";
  try {
    if (cl.options.count("list")) {
      what = "backup --list";
      out = roles::run_backup_list(config, deps, std::cout);
    } else if (cl.options.count("verify-restore")) {
      what = "restore check";
      out = roles::run_restore_check(config, deps);
    } else {
      out = roles::run_backup(config, deps);
    }
  } catch (const agent::AgentError& e) {
    if (e.code() == agent::ExitCode::kUsage) throw;
    out = roles::BackupOutcome{agent::ExitCode::kCloneFailed, e.what()};
  }
  if (out.code == agent::ExitCode::kOk)
    spdlog::info("{}", out.message);
  else
    spdlog::error("{} failed (exit {}): {}", what, static_cast<int>(out.code), out.message);
  return static_cast<int>(out.code);
}

}  // namespace

agent::Command backup_command() {
  return {.name = "backup",
          .min_positional = 0,
          .max_positional = 0,
          .argument = std::nullopt,
          .flags = {{"list", false}, {"verify-restore", false}},
          .summary = "one pg_dump backup for a Job/CronJob (--list, --verify-restore)",
          .help = kHelp,
          .handler = run};
}

}  // namespace replagent::cmd
