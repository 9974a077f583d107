// init for the primary: initdb an empty volume (in staging, renamed into place when complete),
// or refresh the files we own in an existing data directory. Never overwrites data.
#include <algorithm>
#include <filesystem>
#include <sstream>

#include "agent/dns.hpp"
#include "agent/fs.hpp"
#include "agent/topology.hpp"
#include "roles/data_dir.hpp"
#include "roles/init_steps.hpp"
#include "roles/pg_files.hpp"
#include "roles/temporary_server.hpp"

namespace replagent::roles::detail {
namespace {

namespace fs = std::filesystem;
using agent::ExitCode;

// An empty primary volume while a replica of the set still holds data means pod 0 lost its
// volume: starting an empty primary would make every replica re-clone nothing. The peers are
// the headless Service's A records (not-ready pods included); a replica's server answers
// IDENTIFY_SYSTEM over a replication connection with its system identifier and position.
std::optional<InitOutcome> refuse_if_peers_hold_data(const agent::Config& c, InitDeps& deps,
                                                     const Topology& t) {
  if (c.init.allow_empty_primary) return std::nullopt;
  // Only a definite answer tells: NXDOMAIN (no pod published) or the pods' addresses. SERVFAIL
  // or silence says nothing about the peers, so wait for an answer (bounded, like a replica's
  // wait for the primary) and refuse rather than initialise blindly over a replica's data.
  std::optional<agent::DnsAnswer> answer;
  std::string reason;
  const auto end = wait_for<agent::DnsAnswer>(
      deps, c, deps.clock.now() + c.init.wait_timeout, "DNS " + t.service_host + " (peers)",
      [&](std::string* why) -> std::optional<agent::DnsAnswer> {
        auto a = deps.resolver.resolve_ipv4(t.service_host);
        if (a.status == agent::DnsStatus::kOk || a.status == agent::DnsStatus::kNotFound) return a;
        *why = fmt::format("{}{}", agent::to_string(a.status),
                           a.detail.empty() ? "" : " (" + a.detail + ")");
        return std::nullopt;
      },
      &answer, &reason);
  if (end == WaitEnd::kStopped)
    return outcome(ExitCode::kFailed, "stopped by signal while looking for peers");
  if (end == WaitEnd::kTimedOut) {
    return outcome(
        ExitCode::kUnsafeData,
        fmt::format("the primary's volume is empty and {} gave no answer within "
                    "init.wait_timeout ({}): {}; cannot tell whether a peer still holds data, "
                    "so refusing to initialise an empty primary. Fix the cluster DNS, or set "
                    "init.allow_empty_primary=true to start empty anyway",
                    t.service_host, agent::format_duration(c.init.wait_timeout), reason));
  }
  if (answer->status != agent::DnsStatus::kOk) {
    spdlog::info("no peers found through {} ({}): first start of the set", t.service_host,
                 agent::to_string(answer->status));
    return std::nullopt;
  }
  for (const auto& address : answer->addresses) {
    auto params = agent::replication_to(c, t.service_host, address, c.pod.name);
    params.connect_timeout = std::chrono::seconds(2);
    agent::PgError err;
    if (auto info = deps.replication.identify_system(params, &err)) {
      return outcome(
          ExitCode::kUnsafeData,
          fmt::format("the primary's volume is empty but the peer {}{}{} holds data of cluster "
                      "{} at LSN {}: refusing to initialise an empty primary, which would make "
                      "the replicas re-clone nothing. Restore the primary's volume, or make that "
                      "peer the primary (`replagent promote` in it, then primaryOrdinal: README "
                      "\"Losing the primary's volume\"), or set init.allow_empty_primary=true "
                      "to start empty anyway",
                      info->cluster_name.empty() ? "at " : info->cluster_name + " (",
                      agent::host_port(address, c.postgres.port),
                      info->cluster_name.empty() ? "" : ")", info->system_identifier,
                      agent::format_lsn(info->wal_position)));
    }
    spdlog::info("peer {} holds no reachable data ({})", agent::host_port(address, c.postgres.port),
                 err.message);
  }
  return std::nullopt;
}

// The *.sql files of init.scripts_dir, in name order (what a ConfigMap's keys sort to). A
// ConfigMap volume's own entries (..data and its timestamped directory) are skipped silently,
// anything else with one warning. Throws a usage error when the directory cannot be read:
// checked before initdb, so a wrong path costs nothing.
std::vector<fs::path> init_scripts(const agent::Config& c) {
  std::vector<fs::path> out;
  if (c.init.scripts_dir.empty()) return out;
  std::error_code ec;
  fs::directory_iterator it(c.init.scripts_dir, ec);
  if (ec) {
    throw agent::usage_error(
        fmt::format("init.scripts_dir '{}': cannot list it: {} (mount the "
                    "ConfigMap of init scripts there or unset the key)",
                    c.init.scripts_dir, ec.message()));
  }
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.rfind('.', 0) == 0) continue;
    if (entry.path().extension() == ".sql" && entry.is_regular_file(ec)) {
      out.push_back(entry.path());
    } else {
      spdlog::warn("init.scripts_dir: ignoring {} (only *.sql files are run)", name);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The line of psql's output that says why a script failed: its last ERROR (followed by the
// LINE and caret lines that point into the script), else what failure_line finds.
std::string psql_failure_line(const agent::ProcessResult& r) {
  std::istringstream in(r.output_tail);
  std::string found;
  for (std::string line; std::getline(in, line);) {
    if (line.find("ERROR:") != std::string::npos || line.find("FATAL:") != std::string::npos)
      found = line;
  }
  return found.empty() ? failure_line(r) : found;
}

// Runs each script with psql on the temporary server's socket, as the superuser, in the
// application's database (else postgres); ON_ERROR_STOP makes psql exit non-zero on the first
// failing statement, and ~/.psqlrc is not read (-X).
std::optional<InitOutcome> run_init_scripts(const agent::Config& c, InitDeps& deps,
                                            const std::string& run,
                                            const std::vector<fs::path>& scripts) {
  const std::string database =
      c.postgres.app_database.empty() ? std::string("postgres") : c.postgres.app_database;
  for (const auto& script : scripts) {
    if (deps.stop.stop_requested())
      return outcome(ExitCode::kFailed, "stopped by signal while running the init scripts");
    spdlog::info("running init script {} in database {}", script.string(), database);
    agent::ProcessSpec psql;
    psql.program = "psql";
    psql.search_dir = c.postgres.bin_dir;
    psql.args = {"-X",
                 "-v",
                 "ON_ERROR_STOP=1",
                 "-h",
                 run,
                 "-p",
                 std::to_string(c.postgres.port),
                 "-U",
                 c.postgres.superuser,
                 "-d",
                 database,
                 "-f",
                 script.string()};
    if (auto r = run_logged(deps, psql); !r.ok()) {
      return outcome(ExitCode::kFailed,
                     fmt::format("init script {} failed: psql {}: {}; nothing was kept, the next "
                                 "start runs initdb and the scripts again (fix the script in "
                                 "init.scripts_dir)",
                                 script.string(), r.describe(), psql_failure_line(r)));
    }
  }
  return std::nullopt;
}

// Refused before anything is written: replicas authenticate with it.
void require_replication_password(const agent::Config& c) {
  if (c.postgres.replication_password.empty()) {
    throw agent::usage_error(
        "no replication password: set postgres.replication_password_file (a mounted Secret) or "
        "REPLAGENT_POSTGRES_REPLICATION_PASSWORD; replicas authenticate with it");
  }
}

// Removes the staging directory unless the new primary was renamed into place.
struct StagingCleanup {
  std::string staging;
  bool keep_staging = false;
  ~StagingCleanup() {
    std::error_code ec;
    if (!keep_staging) fs::remove_all(staging, ec);
  }
};

// initdb into `staging`, with the superuser's password (if any) from a 0600 file in `run`.
std::optional<InitOutcome> run_initdb(const agent::Config& c, InitDeps& deps,
                                      const std::string& staging, const std::string& run) {
  agent::ProcessSpec initdb;
  initdb.program = "initdb";
  initdb.search_dir = c.postgres.bin_dir;
  // Local connections authenticate by the OS user (peer); replagent's own pg_hba block, which
  // init writes first in the file, says the same and more (pg_files.hpp).
  initdb.args = {"-D",
                 staging,
                 "--data-checksums",
                 "-U",
                 c.postgres.superuser,
                 "-E",
                 "UTF8",
                 "--auth-local=peer",
                 "--auth-host=scram-sha-256"};
  if (!c.postgres.superuser_password.empty()) {
    const std::string pwfile = (fs::path(run) / "superuser-password").string();
    agent::write_file_atomic(pwfile, c.postgres.superuser_password.reveal() + "\n", 0600);
    initdb.args.push_back("--pwfile=" + pwfile);
  } else {
    spdlog::warn(
        "no superuser password (POSTGRES_PASSWORD or postgres.superuser_password_file): "
        "{} can log in only over the local socket",
        c.postgres.superuser);
  }
  spdlog::info("initdb into {} (data checksums on)", staging);
  if (auto r = run_logged(deps, initdb); !r.ok())
    return outcome(ExitCode::kFailed, fmt::format("initdb {}: {}", r.describe(), failure_line(r)));
  return std::nullopt;
}

InitOutcome initialised(const std::string& pgdata) {
  const auto st = inspect_data_dir(pgdata);
  InitOutcome done =
      outcome(ExitCode::kOk, fmt::format("initialised a new primary in {} (system identifier {})",
                                         pgdata, st.system_identifier));
  done.action = InitAction::kInitdb;
  return done;
}

InitOutcome initialise(const agent::Config& c, InitDeps& deps) {
  // 1. What must be right before anything is written: the password, the scripts directory.
  require_replication_password(c);
  const std::vector<fs::path> scripts = init_scripts(c);

  // 2. initdb into staging, our files in it; a failure from here leaves nothing behind.
  const std::string pgdata = c.postgres.data_dir;
  StagingCleanup cleanup{staging_dir_for(pgdata)};
  RunDir run(run_dir_for(pgdata));
  if (auto failed = run_initdb(c, deps, cleanup.staging, run.path)) return *failed;
  write_primary_files(cleanup.staging, c);

  // 3. Roles, database and init scripts on a temporary server. The scripts run in staging: a
  // failing one leaves nothing behind, and the next start runs initdb and every script again,
  // so none runs twice on the same data.
  if (auto failed = reconcile_roles_on(c, deps, cleanup.staging, run.path, [&] {
        return run_init_scripts(c, deps, run.path, scripts);
      }))
    return *failed;

  // 4. The swap: staging becomes PGDATA.
  if (deps.stop.stop_requested())
    return outcome(ExitCode::kFailed, "stopped by signal before the swap");
  promote_staging(pgdata);
  cleanup.keep_staging = true;
  return initialised(pgdata);
}

// An existing primary: our files rewritten, then the roles brought in step with the mounted
// Secrets (a rotated password takes effect here, and roles a newer version added appear).
InitOutcome refresh(const agent::Config& c, InitDeps& deps, const DataDirState& local) {
  write_primary_files(c.postgres.data_dir, c);
  RunDir run(run_dir_for(c.postgres.data_dir));
  if (auto failed = reconcile_roles_on(c, deps, c.postgres.data_dir, run.path)) return *failed;
  InitOutcome kept =
      outcome(ExitCode::kOk, fmt::format("existing primary data (system identifier {}): "
                                         "refreshed {} and pg_hba.conf, roles in step, data "
                                         "untouched",
                                         local.system_identifier, kIncludeFile));
  kept.action = InitAction::kRefreshed;
  return kept;
}

}  // namespace

InitOutcome run_primary(const agent::Config& c, InitDeps& deps, const Topology& t,
                        const DataDirState& local) {
  switch (local.kind) {
    case DataDirKind::kMissing:
    case DataDirKind::kEmpty:
      if (auto refused = refuse_if_peers_hold_data(c, deps, t)) return *refused;
      return initialise(c, deps);
    case DataDirKind::kPrimary:
      return refresh(c, deps, local);
    case DataDirKind::kReplica:
      return outcome(ExitCode::kUnsafeData,
                     fmt::format("{} holds a standby's data (standby.signal) but pod {} is the "
                                 "primary (pod.primary_ordinal={}): refusing to start it as a "
                                 "primary; promote it deliberately or point pod.primary_ordinal "
                                 "at the real primary",
                                 c.postgres.data_dir, c.pod.name, c.pod.primary_ordinal));
    case DataDirKind::kUnknownContents:
      return outcome(ExitCode::kUnsafeData,
                     fmt::format("{} is not empty and not a PostgreSQL data directory ({}); "
                                 "nothing was changed",
                                 c.postgres.data_dir, local.detail));
  }
  return outcome(ExitCode::kFailed, "unreachable");
}

}  // namespace replagent::roles::detail
