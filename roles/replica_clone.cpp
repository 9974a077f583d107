// A replica's clone: wait for the primary, make sure its slot is there, pg_basebackup into a
// staging directory, and rename that into place only once it is complete and verified.
#include <filesystem>

#include "agent/fs.hpp"
#include "agent/tls.hpp"
#include "agent/topology.hpp"
#include "roles/clone.hpp"
#include "roles/init_steps.hpp"

namespace replagent::roles::detail {
namespace {

namespace fs = std::filesystem;
using agent::ExitCode;

// What a replica that cannot verify its primary's certificate is told.
std::string tls_verify_hint(const agent::Config& c, const Topology& t) {
  return fmt::format(
      "TLS: the primary's certificate must be issued by the CA in "
      "postgres.tls_ca_file {} and its SANs cover {}; a replica never streams "
      "from a server it cannot verify",
      c.postgres.tls_ca_file, t.primary_host);
}

// Waits for the primary's name to resolve; fills `address`.
std::optional<InitOutcome> wait_for_dns(const agent::Config& c, InitDeps& deps, const Topology& t,
                                        agent::Clock::time_point deadline, std::string* address) {
  std::string reason;
  std::optional<std::string> resolved;
  agent::DnsStatus last = agent::DnsStatus::kNotFound;
  const auto end = wait_for<std::string>(
      deps, c, deadline, "DNS " + t.primary_host,
      [&](std::string* why) -> std::optional<std::string> {
        auto a = deps.resolver.resolve_ipv4(t.primary_host);
        last = a.status;
        if (a.status == agent::DnsStatus::kOk && !a.addresses.empty()) return a.addresses.front();
        *why = fmt::format("{}{}", agent::to_string(a.status),
                           a.detail.empty() ? "" : " (" + a.detail + ")");
        return std::nullopt;
      },
      &resolved, &reason);
  if (end == WaitEnd::kStopped)
    return outcome(ExitCode::kFailed, "stopped by signal while waiting for DNS");
  if (end == WaitEnd::kTimedOut) {
    return outcome(
        ExitCode::kTimedOut,
        last == agent::DnsStatus::kNotFound
            ? fmt::format("{} did not resolve within init.wait_timeout ({}): {}; check "
                          "that the headless Service '{}' exists and pod {} is created",
                          t.primary_host, agent::format_duration(c.init.wait_timeout), reason,
                          c.pod.service.empty() ? t.self.set : c.pod.service, t.primary.ordinal)
            // SERVFAIL, no answer: the DNS itself fails, not a missing pod.
            : fmt::format("{} did not resolve within init.wait_timeout ({}): {}; the "
                          "cluster DNS is failing: check it (CoreDNS) and dns.servers",
                          t.primary_host, agent::format_duration(c.init.wait_timeout), reason));
  }
  *address = *resolved;
  spdlog::info("primary {} resolved to {}", t.primary_host, *address);
  return std::nullopt;
}

// Waits for the server at `address` to accept connections.
std::optional<InitOutcome> wait_for_server(const agent::Config& c, InitDeps& deps,
                                           const Topology& t, agent::Clock::time_point deadline,
                                           const std::string& address) {
  std::string reason;
  std::optional<bool> up;
  std::string tls_refusal;
  auto params = agent::replication_to(c, t.primary_host, address, c.pod.name);
  const auto end = wait_for<bool>(
      deps, c, deadline, fmt::format("primary {}:{}", t.primary_host, c.postgres.port),
      [&](std::string* why) -> std::optional<bool> {
        const auto s = deps.pg.ping(params);
        if (s == agent::PingStatus::kOk) return true;
        if (s == agent::PingStatus::kNoAttempt)
          throw agent::usage_error(
              fmt::format("invalid connection parameters for {}", params.describe()));
        *why = s == agent::PingStatus::kRejected ? "server is rejecting connections (starting up?)"
                                                 : "no response";
        // A TLS verification failure looks like "no response" to PQping. Waiting would not
        // change the certificate: ask once with a real connection and stop if that is it,
        // before any login, slot or clone reaches a server the replica cannot verify.
        if (s == agent::PingStatus::kNoResponse && c.postgres.tls()) {
          agent::PgError err;
          if (!deps.replication.identify_system(params, &err) &&
              agent::is_tls_refusal(err.message)) {
            tls_refusal = err.message;
            return false;
          }
        }
        return std::nullopt;
      },
      &up, &reason);
  if (!tls_refusal.empty()) {
    return outcome(ExitCode::kCloneFailed, fmt::format("primary {}: {} ({})", params.describe(),
                                                       tls_refusal, tls_verify_hint(c, t)));
  }
  if (end == WaitEnd::kStopped)
    return outcome(ExitCode::kFailed, "stopped by signal while waiting for the primary");
  if (end == WaitEnd::kTimedOut) {
    return outcome(ExitCode::kTimedOut,
                   fmt::format("primary {}:{} ({}) did not accept connections within "
                               "init.wait_timeout ({}): {}",
                               t.primary_host, c.postgres.port, address,
                               agent::format_duration(c.init.wait_timeout), reason));
  }
  return std::nullopt;
}

// Who the primary is (its system identifier, which the clone must carry).
std::optional<InitOutcome> identify_primary(InitDeps& deps, const agent::ConnParams& params,
                                            std::uint64_t* system_identifier) {
  agent::PgError err;
  const auto info = deps.replication.identify_system(params, &err);
  if (!info) {
    return outcome(ExitCode::kCloneFailed,
                   fmt::format("cannot clone from {}: {}{}", params.describe(), err.message,
                               err.auth_failed() ? " (check the replication password: "
                                                   "postgres.replication_password_file or "
                                                   "REPLAGENT_POSTGRES_REPLICATION_PASSWORD)"
                                                 : ""));
  }
  *system_identifier = info->system_identifier;
  return std::nullopt;
}

// This replica's slot on the primary, reserving WAL from now on.
std::optional<InitOutcome> prepare_slot(InitDeps& deps, const Topology& t,
                                        const agent::ConnParams& params,
                                        const ReplicaPlan* reclone) {
  if (reclone && reclone->reason == InitReason::kSlotWalRemoved) {
    // An invalidated slot cannot stream again; a new one reserves WAL from now on.
    if (auto e = deps.replication.drop_physical_slot(params, t.slot)) {
      return outcome(ExitCode::kCloneFailed,
                     fmt::format("cannot drop the invalidated replication slot {} on {}: {}",
                                 t.slot, params.describe(), e->message));
    }
    spdlog::info("dropped the invalidated replication slot {} on the primary", t.slot);
  }
  bool created = false;
  if (auto e = deps.replication.ensure_physical_slot(params, t.slot, &created)) {
    return outcome(ExitCode::kCloneFailed,
                   fmt::format("cannot create replication slot {} on {}: {}", t.slot,
                               params.describe(), e->message));
  }
  spdlog::info("replication slot {} on the primary {}", t.slot,
               created ? "created" : "exists, reused");
  return std::nullopt;
}

// Removes the staging and run directories whatever happens after it is created.
struct StagingGuard {
  std::string pgdata;
  bool keep = false;
  ~StagingGuard() {
    if (keep) return;
    std::error_code ec;
    fs::remove_all(staging_dir_for(pgdata), ec);
    fs::remove_all(run_dir_for(pgdata), ec);
  }
};

// The run directory with pg_basebackup's passfile in it; returns the passfile's path.
std::string prepare_run_dir(const agent::Config& c, const std::string& run) {
  make_private_dir(run);  // 0700, checked; never through a symlink planted there
  const std::string passfile = (fs::path(run) / "pgpass").string();
  agent::write_file_atomic(
      passfile, passfile_line(c.postgres.replication_user, c.postgres.replication_password), 0600);
  return passfile;
}

// pg_basebackup into staging, its progress logged at most every few seconds.
std::optional<InitOutcome> run_basebackup(const agent::Config& c, InitDeps& deps, const Topology& t,
                                          const agent::ConnParams& params, const CloneRequest& req,
                                          std::uint64_t sysid, ProgressReporter& progress) {
  spdlog::info("cloning {} (system identifier {}) into {} with pg_basebackup{}", params.describe(),
               sysid, req.target_dir,
               c.init.max_rate ? " at most " + agent::format_size(*c.init.max_rate) + "/s" : "");
  const auto result = deps.runner.run(build_basebackup(req), [&](std::string_view line) {
    if (auto p = parse_progress_line(line)) {
      if (auto msg = progress.update(*p)) spdlog::info("{}", *msg);
    } else {
      spdlog::debug("pg_basebackup: {}", line);
    }
  });
  if (result.ok()) {
    spdlog::info("pg_basebackup done: {}", progress.summary());
    return std::nullopt;
  }
  const bool stopped = result.end == agent::ProcessResult::End::kStopped;
  const std::string line = failure_line(result);
  // libpq says "SSL error: certificate verify failed" or "server certificate for ... does
  // not match host name": name the file and the name the replica checked.
  std::string tls_hint;
  if (c.postgres.tls() &&
      (line.find("certificate") != std::string::npos || line.find("SSL") != std::string::npos))
    tls_hint = " (" + tls_verify_hint(c, t) + ")";
  return outcome(stopped ? ExitCode::kFailed : ExitCode::kCloneFailed,
                 fmt::format("clone from {} {}: pg_basebackup {}: {}{}; the partial copy was "
                             "removed, the next init starts over",
                             params.describe(), stopped ? "interrupted" : "failed",
                             result.describe(), line, tls_hint));
}

// pg_verifybackup, unless init.verify is off.
std::optional<InitOutcome> verify_clone(const agent::Config& c, InitDeps& deps,
                                        const std::string& staging) {
  if (!c.init.verify) return std::nullopt;
  const auto v =
      deps.runner.run(build_verifybackup(staging, c.postgres.bin_dir),
                      [](std::string_view line) { spdlog::debug("pg_verifybackup: {}", line); });
  if (!v.ok()) {
    return outcome(
        v.end == agent::ProcessResult::End::kStopped ? ExitCode::kFailed : ExitCode::kCloneFailed,
        fmt::format("the clone failed verification: pg_verifybackup {}: {}; removed", v.describe(),
                    failure_line(v)));
  }
  spdlog::info("pg_verifybackup: the clone matches its manifest");
  return std::nullopt;
}

// Our files in the clone, then a look that it is what we asked for.
std::optional<InitOutcome> finish_clone(const agent::Config& c, InitDeps& deps, const Topology& t,
                                        const std::string& staging, const std::string& address,
                                        std::uint64_t sysid) {
  write_replica_files(staging, with_primary_minimums(c, deps, staging), conninfo_for(c, t, address),
                      t.slot);
  // A clone verified its primary (TLS on); markers copied from the primary's data go.
  write_tls_markers(staging, c.postgres.tls() ? TlsMarkers::kVerified : TlsMarkers::kClear);
  const auto cloned = inspect_data_dir(staging);
  if (cloned.kind != DataDirKind::kReplica || cloned.system_identifier != sysid) {
    return outcome(ExitCode::kCloneFailed,
                   fmt::format("the clone in {} is not a replica of system {} ({}); removed",
                               staging, sysid, to_string(cloned.kind)));
  }
  return std::nullopt;
}

// Makes the clone PGDATA. Foreign data is moved aside only now, with a complete clone ready to
// take its place. Returns whether something was replaced.
bool swap_in(const std::string& pgdata, const DataDirState& local, const ReplicaPlan* reclone,
             StagingGuard& guard) {
  const std::string retired = retired_dir_for(pgdata);
  const bool replacing = local.kind == DataDirKind::kReplica ||
                         local.kind == DataDirKind::kPrimary ||
                         local.kind == DataDirKind::kUnknownContents;
  if (replacing) {
    fs::remove_all(retired);
    fs::rename(pgdata, retired);
    spdlog::warn("moved the previous contents of {} to {} ({})", pgdata, retired,
                 reclone ? to_string(reclone->reason) : "not a usable data directory");
  }
  promote_staging(pgdata);
  guard.keep = true;
  fs::remove_all(run_dir_for(pgdata));
  if (replacing) fs::remove_all(retired);
  return replacing;
}

InitOutcome cloned(const agent::ConnParams& params, const std::string& pgdata,
                   const std::string& summary, const ReplicaPlan* reclone, bool replacing) {
  InitOutcome done =
      outcome(ExitCode::kOk, fmt::format("{} {} into {}: {}{}", replacing ? "re-cloned" : "cloned",
                                         params.describe(), pgdata, summary,
                                         reclone ? " (" + reclone->message + ")" : ""));
  done.action = replacing ? InitAction::kReclone : InitAction::kClone;
  done.reason = reclone     ? reclone->reason
                : replacing ? InitReason::kForeignData
                            : InitReason::kNone;
  return done;
}

}  // namespace

InitOutcome clone(const agent::Config& c, InitDeps& deps, const Topology& t,
                  const DataDirState& local, const ReplicaPlan* reclone) {
  const std::string& pgdata = c.postgres.data_dir;
  if (reclone) spdlog::warn("re-cloning {}: {}", pgdata, reclone->message);
  // 1. The primary: resolvable, accepting connections, and who it is.
  const auto deadline = deps.clock.now() + c.init.wait_timeout;
  std::string address;
  if (auto failed = wait_for_dns(c, deps, t, deadline, &address)) return *failed;
  if (auto failed = wait_for_server(c, deps, t, deadline, address)) return *failed;
  const auto params = agent::replication_to(c, t.primary_host, address, c.pod.name);
  std::uint64_t sysid = 0;
  if (auto failed = identify_primary(deps, params, &sysid)) return *failed;

  // 2. Its slot for this replica (a new one after an invalidated one).
  if (auto failed = prepare_slot(deps, t, params, reclone)) return *failed;

  // 3. pg_basebackup into staging; from here a failure removes staging and run (the guard).
  const std::string staging = staging_dir_for(pgdata);
  StagingGuard guard{pgdata};
  const std::string passfile = prepare_run_dir(c, run_dir_for(pgdata));
  const CloneRequest req{staging,
                         t.primary_host,
                         address,
                         c.postgres.port,
                         c.postgres.replication_user,
                         c.pod.name,
                         t.slot,
                         passfile,
                         c.init.max_rate,
                         c.postgres.bin_dir,
                         c.postgres.tls_ca_file};
  ProgressReporter progress(deps.clock, std::chrono::seconds(5));
  if (auto failed = run_basebackup(c, deps, t, params, req, sysid, progress)) return *failed;

  // 4. Verified, our files written, and a replica of the primary it came from.
  if (auto failed = verify_clone(c, deps, staging)) return *failed;
  if (auto failed = finish_clone(c, deps, t, staging, address, sysid)) return *failed;
  if (deps.stop.stop_requested())
    return outcome(ExitCode::kFailed, "stopped by signal before the swap");

  // 5. The swap: the clone becomes PGDATA.
  const bool replacing = swap_in(pgdata, local, reclone, guard);
  return cloned(params, pgdata, progress.summary(), reclone, replacing);
}

}  // namespace replagent::roles::detail
