#include "agent/cli.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "agent/errors.hpp"

namespace replagent::agent {
namespace {

struct FlagSpec {
  const char* name;
  bool takes_value;
};

// The one positional argument a command may take, for the message when it is missing.
struct ArgumentSpec {
  const char* name;     // "KIND"
  const char* what;     // "ready, live, primary or replica"
  const char* example;  // "replagent probe ready"
};

struct CommandSpec {
  const char* name;
  int min_positional;
  int max_positional;
  std::optional<ArgumentSpec> argument;
  std::vector<FlagSpec> flags;
  const char* summary;  // one line for the overview
  const char* help;
};

const std::vector<CommandSpec>& commands_list() {
  static const std::vector<CommandSpec> kCommands = {
      {"init", 0, 0, std::nullopt, {},
       "prepare this pod's data directory (primary: initdb; replica: clone)",
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
)"},
      {"sidecar", 0, 0, std::nullopt, {},
       "serve /metrics, health and read-only routing endpoints",
       R"(replagent sidecar — serve /metrics, /healthz, /readyz, /primary, /replica, /read-only and
/status on sidecar.listen (default 0.0.0.0:9187) until SIGTERM.

Connects to the local server as postgres.monitor_user (pg_monitor), never the superuser.
Error texts in response bodies are reduced to a category; with sidecar.status_token_file,
/status answers in full to "Authorization: Bearer <token>".

Example:
  REPLAGENT_POSTGRES_MONITOR_PASSWORD_FILE=/secrets/monitor/password \
  replagent sidecar --set sidecar.listen=0.0.0.0:9187
)"},
      {"probe", 1, 1,
       ArgumentSpec{"KIND", "ready, live, primary or replica", "replagent probe ready"},
       {{"max-lag", true}, {"timeout", true}},
       "readiness/liveness check for a kubelet exec probe",
       R"(replagent probe ready|live|primary|replica [--max-lag SIZE] [--timeout DURATION]
Exit 0 when the check passes, 1 when it does not, with one line saying why (kubelet exec probe).

Example:
  replagent probe ready --max-lag 16MB
)"},
      {"promote", 0, 0, std::nullopt, {{"socket-dir", true}},
       "make this replica the primary (the runbook for a lost primary volume)",
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
)"},
      {"backup", 0, 0, std::nullopt, {{"list", false}, {"verify-restore", false}},
       "one pg_dump backup for a Job/CronJob (--list, --verify-restore)",
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
)"},
      {"install", 1, 1,
       ArgumentSpec{"DIR", "the directory to copy the binary into",
                    "replagent install /replagent/bin"},
       {},
       "copy this binary into DIR (shared volume)",
       R"(replagent install DIR — copy this executable to DIR/replagent (mode 0755), atomically:
a temporary file in DIR renamed over the old one, so a running copy is never half-written.
Used by the first init container to put the agent on a shared emptyDir volume.

Example:
  replagent install /replagent/bin
)"},
      {"config", 0, 0, std::nullopt, {{"reference", false}},
       "validate and print the effective config, secrets redacted",
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
)"},
      {"version", 0, 0, std::nullopt, {}, "print the version",
       R"(replagent version — print the version and exit.

Example:
  replagent version
)"},
  };
  return kCommands;
}

const CommandSpec* find_command(const std::string& name) {
  for (const auto& c : commands_list())
    if (name == c.name) return &c;
  return nullptr;
}

// The overview: the commands come from the table, so none is left out of it.
std::string overview() {
  std::string commands;
  for (const auto& c : commands_list()) {
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

std::string command_names() {
  std::string out;
  for (const auto& c : commands_list()) out += (out.empty() ? "" : ", ") + std::string(c.name);
  return out;
}

// One line for a wrong number of arguments: what is missing and what it may be, or what
// was too much (the whole help text in an error line buried the point).
std::string argument_error(const CommandSpec& spec, const std::vector<std::string>& given) {
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

CommandLine parse_command_line(const std::vector<std::string>& args) {
  CommandLine cl;
  const CommandSpec* spec = nullptr;
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
        throw usage_error(fmt::format("--log-level {}: expected trace, debug, info, warn or error",
                                      level));
    } else if (arg == "--set") {
      const std::string kv = value("KEY=VALUE, e.g. init.wait_timeout=5m");
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        throw usage_error(fmt::format("--set {}: expected KEY=VALUE, e.g. init.wait_timeout=5m", kv));
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
      spec = find_command(arg);
      if (!spec) {
        throw usage_error(fmt::format("unknown command '{}' (commands: {}; see `replagent "
                                      "--help`)",
                                      arg, command_names()));
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

std::string help_text(const std::string& command) {
  if (const CommandSpec* spec = find_command(command)) return spec->help;
  return overview();
}

}  // namespace replagent::agent
