// init for the primary: initdb an empty volume (in staging, renamed into place when complete),
// or refresh the files we own in an existing data directory. Never overwrites data.
#include <sys/stat.h>

#include <filesystem>

#include "agent/fs.hpp"
#include "roles/data_dir.hpp"
#include "roles/init_steps.hpp"
#include "roles/pg_files.hpp"

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
    auto params = replication_params(c, t.service_host, address);
    params.connect_timeout = std::chrono::seconds(2);
    agent::PgError err;
    if (auto info = deps.pg.identify_system(params, &err)) {
      return outcome(
          ExitCode::kUnsafeData,
          fmt::format("the primary's volume is empty but the peer {}{}:{}{} holds data of cluster "
                      "{} at LSN {}: refusing to initialise an empty primary, which would make "
                      "the replicas re-clone nothing. Restore the primary's volume, or set "
                      "init.allow_empty_primary=true to start empty anyway",
                      info->cluster_name.empty() ? "at " : info->cluster_name + " (",
                      address, c.postgres.port, info->cluster_name.empty() ? "" : ")",
                      info->system_identifier,
                      agent::format_lsn(info->wal_position)));
    }
    spdlog::info("peer {}:{} holds no reachable data ({})", address, c.postgres.port, err.message);
  }
  return std::nullopt;
}


agent::ProcessResult run_logged(InitDeps& deps, agent::ProcessSpec spec) {
  const std::string name = spec.program;
  return deps.runner.run(spec, [&](std::string_view line) { spdlog::debug("{}: {}", name, line); });
}

// The temporary server: only a unix socket in our private run directory, so nothing can
// connect while the role is created.
agent::ProcessSpec pg_ctl(const agent::Config& c, const std::vector<std::string>& args) {
  agent::ProcessSpec spec;
  spec.program = "pg_ctl";
  spec.search_dir = c.postgres.bin_dir;
  spec.args = args;
  spec.timeout = std::chrono::minutes(5);
  return spec;
}

InitOutcome initialise(const agent::Config& c, InitDeps& deps) {
  if (c.postgres.replication_password.empty()) {
    throw agent::usage_error(
        "no replication password: set postgres.replication_password_file (a mounted Secret) or "
        "REPLAGENT_POSTGRES_REPLICATION_PASSWORD; replicas authenticate with it");
  }
  const std::string pgdata = c.postgres.data_dir;
  const std::string staging = staging_dir_for(pgdata);
  const std::string run = run_dir_for(pgdata);
  struct Cleanup {
    std::string staging, run;
    bool keep_staging = false;
    ~Cleanup() {
      std::error_code ec;
      if (!keep_staging) fs::remove_all(staging, ec);
      fs::remove_all(run, ec);
    }
  } cleanup{staging, run};
  fs::create_directories(run);
  ::chmod(run.c_str(), 0700);

  agent::ProcessSpec initdb;
  initdb.program = "initdb";
  initdb.search_dir = c.postgres.bin_dir;
  initdb.args = {"-D", staging, "--data-checksums", "-U", c.postgres.superuser, "-E", "UTF8",
                 "--auth-local=trust", "--auth-host=scram-sha-256"};
  if (!c.postgres.superuser_password.empty()) {
    const std::string pwfile = (fs::path(run) / "superuser-password").string();
    agent::write_file_atomic(pwfile, c.postgres.superuser_password.reveal() + "\n", 0600);
    initdb.args.push_back("--pwfile=" + pwfile);
  } else {
    spdlog::warn("no superuser password (POSTGRES_PASSWORD or postgres.superuser_password_file): "
                 "{} can log in only over the local socket", c.postgres.superuser);
  }
  spdlog::info("initdb into {} (data checksums on)", staging);
  if (auto r = run_logged(deps, initdb); !r.ok())
    return outcome(ExitCode::kFailed, fmt::format("initdb {}: {}", r.describe(), failure_line(r)));
  write_primary_files(staging, c);

  const std::string log = (fs::path(run) / "temporary-server.log").string();
  const std::string opts = fmt::format("-c listen_addresses='' -c unix_socket_directories='{}' -p {}",
                                       run, c.postgres.port);
  if (auto r = run_logged(deps, pg_ctl(c, {"-D", staging, "-w", "-t", "120", "-l", log, "-o", opts, "start"}));
      !r.ok()) {
    return outcome(ExitCode::kFailed,
                   fmt::format("temporary server did not start: pg_ctl {}: {}", r.describe(), failure_line(r)));
  }
  std::optional<InitOutcome> failed;
  {
    agent::ConnParams p;
    p.host = run;
    p.port = c.postgres.port;
    p.user = c.postgres.superuser;
    p.application_name = "replagent-init";
    agent::PgError err;
    auto session = deps.pg.connect(p, &err);
    if (!session) {
      failed = outcome(ExitCode::kFailed, "cannot connect to the temporary server: " + err.message);
    } else {
      // The server quotes the names (format %I/%L); the password travels as a SCRAM verifier.
      const std::string verifier =
          session->encrypt_password(c.postgres.replication_user, c.postgres.replication_password);
      agent::QueryResult q;
      auto e = session->exec_params(
          "SELECT format('CREATE ROLE %I WITH REPLICATION LOGIN PASSWORD %L', $1::text, $2::text)",
          {c.postgres.replication_user, verifier}, &q);
      if (!e && !q.rows.empty() && q.rows[0][0]) e = session->exec(*q.rows[0][0]);
      if (e) failed = outcome(ExitCode::kFailed, "cannot create the replication role: " + e->message);
      else spdlog::info("replication role {} created", c.postgres.replication_user);
    }
  }
  if (auto r = run_logged(deps, pg_ctl(c, {"-D", staging, "-m", "fast", "-w", "-t", "120", "stop"}));
      !r.ok() && !failed) {
    failed = outcome(ExitCode::kFailed, fmt::format("temporary server did not stop: pg_ctl {}: {}",
                                                    r.describe(), failure_line(r)));
  }
  if (failed) return *failed;
  if (agent::stop_requested()) return outcome(ExitCode::kFailed, "stopped by signal before the swap");
  promote_staging(pgdata);
  cleanup.keep_staging = true;
  const auto st = inspect_data_dir(pgdata);
  InitOutcome done = outcome(ExitCode::kOk,
                             fmt::format("initialised a new primary in {} (system identifier {})",
                                         pgdata, st.system_identifier));
  done.action = "initdb";
  return done;
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
    {
      write_primary_files(c.postgres.data_dir, c);
      InitOutcome kept = outcome(ExitCode::kOk,
                                 fmt::format("existing primary data (system identifier {}): "
                                             "refreshed {} and pg_hba.conf, data untouched",
                                             local.system_identifier, kIncludeFile));
      kept.action = "refreshed";
      return kept;
    }
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
