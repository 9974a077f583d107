// init for a replica: keep valid data of this cluster, otherwise clone the primary into a
// staging directory and rename it into place only once it is complete and verified.
#include <sys/stat.h>

#include <charconv>
#include <filesystem>
#include <map>
#include <variant>

#include "agent/fs.hpp"
#include "agent/tls.hpp"
#include "roles/clone.hpp"
#include "roles/data_dir.hpp"
#include "roles/init_steps.hpp"
#include "roles/pg_files.hpp"

namespace replagent::roles::detail {
namespace {

namespace fs = std::filesystem;
using agent::ExitCode;

// What the primary told us, when we could reach it.
struct PrimaryFacts {
  std::string address;
  std::uint64_t system_identifier = 0;
  // Reached with the interim sslmode=prefer: TLS is on, the primary serves none yet and this
  // replica never verified it (see "Turning TLS on" below).
  bool tls_pending = false;
};

// Turning TLS on for a running set. The StatefulSet's rolling update restarts the replicas
// first and the primary last, so a replica that comes back with TLS on finds its primary
// still serving none. verify-full there would stop it streaming, keep it unready, and stall
// the roll before it reaches the primary: the set would never get TLS. So a replica that keeps
// its data and has never verified its primary (no kTlsVerifiedFile) streams with the interim
// sslmode=prefer while the primary serves no TLS (no worse than before: it streamed in clear),
// marked kTlsPendingFile; its sidecar switches it to verify-full once the primary verifies,
// without a restart (roles/tls_upgrade.hpp). Never the other way: a replica that has verified
// its primary once (kTlsVerifiedFile), and every new clone, only ever connects verifying it,
// and a certificate that fails verification is refused whatever the markers say.
bool has_marker(const std::string& data_dir, const char* name) {
  std::error_code ec;
  return fs::exists(fs::path(data_dir) / name, ec);
}

// Records in `data_dir` what this init found: TLS off (no markers: turning it on later starts
// the transition again), the primary verified (kTlsVerifiedFile), or pending.
void record_tls_state(const agent::Config& c, const std::string& data_dir, bool verified,
                      bool pending) {
  const fs::path dir(data_dir);
  std::error_code ec;
  if (!c.postgres.tls()) {
    fs::remove(dir / kTlsPendingFile, ec);
    fs::remove(dir / kTlsVerifiedFile, ec);
  } else if (verified) {
    mark_tls_verified(data_dir);
  } else if (pending) {
    agent::write_file_atomic((dir / kTlsPendingFile).string(),
                             "the primary served no TLS at init: interim sslmode=prefer until "
                             "the sidecar verifies it\n",
                             0600);
  }
}

PrimaryConnInfo conninfo_for(const agent::Config& c, const Topology& t, const std::string& address,
                             bool tls_pending = false) {
  PrimaryConnInfo info;
  info.host = t.primary_host;
  info.hostaddr = c.init.pin_primary_address ? address : "";
  info.port = c.postgres.port;
  info.user = c.postgres.replication_user;
  info.passfile = (fs::path(c.postgres.data_dir) / kPassFile).string();
  info.application_name = c.pod.name;
  info.ssl_root_cert = c.postgres.tls_ca_file;
  info.tls_pending = tls_pending;
  return info;
}

// A hot standby refuses to run with a lower max_connections, max_worker_processes,
// max_wal_senders, max_prepared_transactions or max_locks_per_transaction than its primary
// (recovery aborts "because of insufficient parameter settings"); its control file records
// the primary's values, from the clone and from every parameter change it replays. A lowered
// setting (postgres.parameters, or max_wal_senders from the chart's maxReplicas) reaches the
// replicas first, since a rolling update restarts the primary last, so each replica keeps at
// least the primary's value until the primary itself runs with the lower one. One not set at
// all is written at the primary's value: postgresql.conf's (the clone's) could be lower.
agent::Config with_primary_minimums(const agent::Config& c, InitDeps& deps,
                                    const std::string& data_dir) {
  agent::ProcessSpec spec;
  spec.program = "pg_controldata";
  spec.search_dir = c.postgres.bin_dir;
  spec.args = {"-D", data_dir};
  spec.timeout = std::chrono::seconds(30);
  std::map<std::string, int> primary;
  const auto r = deps.runner.run(spec, [&](std::string_view line) {
    for (const auto& m : agent::standby_minimum_parameters()) {
      const std::string_view label = m.controldata_label;
      if (line.substr(0, label.size()) != label) continue;
      try {
        primary[m.name] = std::stoi(std::string(line.substr(label.size())));
      } catch (const std::exception&) {
      }
    }
  });
  agent::Config out = c;
  if (!r.ok() || primary.empty()) {
    spdlog::warn("cannot read the primary's settings from {}'s control file (pg_controldata {}); "
                 "writing the configured ones (max_wal_senders = {})",
                 data_dir, r.describe(), c.postgres.max_wal_senders);
    return out;
  }
  for (const auto& [name, value] : primary) {
    if (name == "max_wal_senders") {
      if (value > c.postgres.max_wal_senders) {
        spdlog::info("max_wal_senders = {} (the primary's, recorded in the control file) instead "
                     "of postgres.max_wal_senders = {}: a hot standby refuses fewer than its "
                     "primary",
                     value, c.postgres.max_wal_senders);
        out.postgres.max_wal_senders = value;
      }
      continue;
    }
    const auto set = c.postgres.parameters.find(name);
    if (set == c.postgres.parameters.end()) {
      spdlog::debug("{} = {} (the primary's, recorded in the control file; not set in "
                    "postgres.parameters)", name, value);
      out.postgres.parameters[name] = std::to_string(value);
      continue;
    }
    // load_config made these integers (one that is not is left as configured).
    long long configured = 0;
    const auto& text = set->second;
    const auto parsed = std::from_chars(text.data(), text.data() + text.size(), configured);
    if (parsed.ec != std::errc() || parsed.ptr != text.data() + text.size()) continue;
    if (value > configured) {
      spdlog::info("{} = {} (the primary's, recorded in the control file) instead of "
                   "postgres.parameters.{} = {}: a hot standby refuses less than its primary",
                   name, value, name, configured);
      out.postgres.parameters[name] = std::to_string(value);
    }
  }
  return out;
}

std::string reclone_hint() {
  return "set init.on_foreign_data=reclone (REPLAGENT_INIT_ON_FOREIGN_DATA=reclone) to move it "
         "aside and clone the primary, or empty the volume yourself";
}

// A quick, single look at the primary for the no-clone path: a pod restart must not wait for
// a primary that may itself be restarting. nullopt (with *why) when it cannot be reached.
std::optional<PrimaryFacts> glance_at_primary(const agent::Config& c, InitDeps& deps,
                                              const Topology& t, std::string* why) {
  const auto answer = deps.resolver.resolve_ipv4(t.primary_host);
  if (answer.status != agent::DnsStatus::kOk || answer.addresses.empty()) {
    *why = fmt::format("{} does not resolve ({})", t.primary_host, agent::to_string(answer.status));
    return std::nullopt;
  }
  agent::PgError err;
  auto params = replication_params(c, t.primary_host, answer.addresses.front());
  params.connect_timeout = std::chrono::seconds(2);
  auto info = deps.pg.identify_system(params, &err);
  if (!info && c.postgres.tls() && agent::is_tls_unsupported(err.message)) {
    if (has_marker(c.postgres.data_dir, kTlsVerifiedFile)) {
      *why = fmt::format("{}: {}; this replica verified its primary over TLS before ({}), so it "
                         "never connects to it unverified: if TLS was turned off on the primary "
                         "on purpose, turn it off for the whole set",
                         params.describe(), err.message, kTlsVerifiedFile);
      return std::nullopt;
    }
    // TLS is being turned on (see above): the interim sslmode=prefer.
    spdlog::warn("the primary {} serves no TLS yet ({}); this replica never verified it, so it "
                 "streams with sslmode=prefer until the primary verifies, then the sidecar "
                 "switches it to verify-full (turning TLS on restarts the primary last)",
                 t.primary_host, err.message);
    params.sslrootcert.clear();
    info = deps.pg.identify_system(params, &err);
    if (info) return PrimaryFacts{answer.addresses.front(), info->system_identifier, true};
  }
  if (!info) {
    *why = fmt::format("{}: {}", params.describe(), err.message);
    return std::nullopt;
  }
  return PrimaryFacts{answer.addresses.front(), info->system_identifier};
}

// Why existing data is replaced by a new clone: a machine-readable reason (metric label) and
// the sentence for the logs and the termination message.
struct Reclone {
  std::string reason;
  std::string detail;
};

// Whether the primary still holds the WAL this replica needs to resume streaming: its slot
// must exist and be valid. A replica that was away (scaled down, its node gone) while the
// primary recycled WAL past max_slot_wal_keep_size would otherwise start, fail to stream
// ("requested WAL segment has already been removed") and stay behind forever, unnoticed.
std::optional<Reclone> check_slot(const agent::Config& c, InitDeps& deps, const Topology& t,
                                  const PrimaryFacts& primary) {
  agent::PgError err;
  auto params = replication_params(c, t.primary_host, primary.address);
  if (primary.tls_pending) params.sslrootcert.clear();
  params.connect_timeout = std::chrono::seconds(2);
  const auto slot = deps.pg.read_physical_slot(params, t.slot, &err);
  if (!slot) {
    spdlog::warn("could not read replication slot {} on {} ({}); keeping the replica data",
                 t.slot, params.describe(), err.message);
    return std::nullopt;
  }
  if (!slot->exists) {
    return Reclone{"slot_missing",
                   fmt::format("replication slot {} does not exist on the primary {}, so nothing "
                               "kept the WAL this replica needs to resume",
                               t.slot, t.primary_host)};
  }
  if (slot->wal_removed()) {
    return Reclone{"slot_wal_removed",
                   fmt::format("replication slot {} on the primary {} was invalidated: the "
                               "primary removed WAL this replica had not received "
                               "(postgres.max_slot_wal_keep_size)",
                               t.slot, t.primary_host)};
  }
  spdlog::info("replication slot {} on the primary holds WAL from {}", t.slot,
               agent::format_lsn(*slot->restart_lsn));
  return std::nullopt;
}

// The outcome for valid replica data, or the reason it must be re-cloned (another cluster's
// data with init.on_foreign_data=reclone, or WAL the primary no longer has).
std::variant<InitOutcome, Reclone> keep_replica(const agent::Config& c, InitDeps& deps,
                                                const Topology& t, const DataDirState& local) {
  std::string why;
  const auto primary = glance_at_primary(c, deps, t, &why);
  if (primary && primary->system_identifier != local.system_identifier) {
    if (c.init.on_foreign_data != agent::OnForeignData::kReclone) {
      return outcome(ExitCode::kUnsafeData,
                     fmt::format("{} holds a replica of another cluster (system identifier {}, "
                                 "the primary's is {}); nothing was changed; {}",
                                 c.postgres.data_dir, local.system_identifier,
                                 primary->system_identifier, reclone_hint()));
    }
    return Reclone{"foreign_data",
                   fmt::format("{} holds a replica of another cluster (system identifier {}, the "
                               "primary's is {}) and init.on_foreign_data=reclone",
                               c.postgres.data_dir, local.system_identifier,
                               primary->system_identifier)};
  }
  if (primary) {
    if (auto reclone = check_slot(c, deps, t, *primary)) return *reclone;
  } else {
    spdlog::warn("could not check the primary ({}); keeping the existing replica data "
                 "(system identifier {}) unverified", why, local.system_identifier);
  }
  const agent::Config files = with_primary_minimums(c, deps, c.postgres.data_dir);
  // Pending: the primary serves no TLS yet, or could not be reached while still pending.
  const bool pending = c.postgres.tls() &&
                       (primary ? primary->tls_pending
                                : has_marker(c.postgres.data_dir, kTlsPendingFile) &&
                                      !has_marker(c.postgres.data_dir, kTlsVerifiedFile));
  if (primary || !c.init.pin_primary_address) {
    write_replica_files(c.postgres.data_dir, files,
                        conninfo_for(c, t, primary ? primary->address : "", pending), t.slot);
  } else {
    write_primary_files(c.postgres.data_dir, files);  // keep the old pinned conninfo
  }
  record_tls_state(c, c.postgres.data_dir, primary && !primary->tls_pending, pending);
  InitOutcome kept = outcome(ExitCode::kOk,
                             fmt::format("valid replica data (system identifier {}{}), no clone; "
                                         "primary_conninfo refreshed",
                                         local.system_identifier,
                                         primary ? ", matches the primary" : ""));
  kept.action = "kept";
  return kept;
}

// Waits for DNS, then for the server to accept connections; fills `address`.
std::optional<InitOutcome> wait_for_primary(const agent::Config& c, InitDeps& deps,
                                            const Topology& t, std::string* address) {
  const auto deadline = deps.clock.now() + c.init.wait_timeout;
  std::string reason;
  std::optional<std::string> resolved;
  agent::DnsStatus last = agent::DnsStatus::kNotFound;
  auto end = wait_for<std::string>(
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
    return outcome(ExitCode::kTimedOut,
                   last == agent::DnsStatus::kNotFound
                       ? fmt::format("{} did not resolve within init.wait_timeout ({}): {}; check "
                                     "that the headless Service '{}' exists and pod {} is created",
                                     t.primary_host, agent::format_duration(c.init.wait_timeout),
                                     reason, c.pod.service.empty() ? t.self.set : c.pod.service,
                                     t.primary.ordinal)
                       // SERVFAIL, no answer: the DNS itself fails, not a missing pod.
                       : fmt::format("{} did not resolve within init.wait_timeout ({}): {}; the "
                                     "cluster DNS is failing: check it (CoreDNS) and dns.servers",
                                     t.primary_host, agent::format_duration(c.init.wait_timeout),
                                     reason));
  }
  *address = *resolved;
  spdlog::info("primary {} resolved to {}", t.primary_host, *address);

  std::optional<bool> up;
  std::string tls_refusal;
  auto params = replication_params(c, t.primary_host, *address);
  end = wait_for<bool>(
      deps, c, deadline, fmt::format("primary {}:{}", t.primary_host, c.postgres.port),
      [&](std::string* why) -> std::optional<bool> {
        const auto s = deps.pg.ping(params);
        if (s == agent::PingStatus::kOk) return true;
        if (s == agent::PingStatus::kNoAttempt)
          throw agent::usage_error(fmt::format("invalid connection parameters for {}", params.describe()));
        *why = s == agent::PingStatus::kRejected ? "server is rejecting connections (starting up?)"
                                                 : "no response";
        // A TLS verification failure looks like "no response" to PQping. Waiting would not
        // change the certificate: ask once with a real connection and stop if that is it,
        // before any login, slot or clone reaches a server the replica cannot verify.
        if (s == agent::PingStatus::kNoResponse && c.postgres.tls()) {
          agent::PgError err;
          if (!deps.pg.identify_system(params, &err) && agent::is_tls_refusal(err.message)) {
            tls_refusal = err.message;
            return false;
          }
        }
        return std::nullopt;
      },
      &up, &reason);
  if (!tls_refusal.empty()) {
    return outcome(ExitCode::kCloneFailed,
                   fmt::format("primary {}: {} (TLS: the primary's certificate must be issued by "
                               "the CA in postgres.tls_ca_file {} and its SANs cover {}; a "
                               "replica never streams from a server it cannot verify)",
                               params.describe(), tls_refusal, c.postgres.tls_ca_file,
                               t.primary_host));
  }
  if (end == WaitEnd::kStopped)
    return outcome(ExitCode::kFailed, "stopped by signal while waiting for the primary");
  if (end == WaitEnd::kTimedOut) {
    return outcome(ExitCode::kTimedOut,
                   fmt::format("primary {}:{} ({}) did not accept connections within "
                               "init.wait_timeout ({}): {}",
                               t.primary_host, c.postgres.port, *address,
                               agent::format_duration(c.init.wait_timeout), reason));
  }
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


InitOutcome clone(const agent::Config& c, InitDeps& deps, const Topology& t,
                  const DataDirState& local, const Reclone* reclone = nullptr) {
  if (reclone) spdlog::warn("re-cloning {}: {}", c.postgres.data_dir, reclone->detail);
  std::string address;
  if (auto failed = wait_for_primary(c, deps, t, &address)) return *failed;

  agent::PgError err;
  const auto params = replication_params(c, t.primary_host, address);
  const auto info = deps.pg.identify_system(params, &err);
  if (!info) {
    return outcome(ExitCode::kCloneFailed,
                   fmt::format("cannot clone from {}: {}{}", params.describe(), err.message,
                               err.auth_failed()
                                   ? " (check the replication password: "
                                     "postgres.replication_password_file or "
                                     "REPLAGENT_POSTGRES_REPLICATION_PASSWORD)"
                                   : ""));
  }
  if (reclone && reclone->reason == "slot_wal_removed") {
    // An invalidated slot cannot stream again; a new one reserves WAL from now on.
    if (auto e = deps.pg.drop_physical_slot(params, t.slot)) {
      return outcome(ExitCode::kCloneFailed,
                     fmt::format("cannot drop the invalidated replication slot {} on {}: {}",
                                 t.slot, params.describe(), e->message));
    }
    spdlog::info("dropped the invalidated replication slot {} on the primary", t.slot);
  }
  bool created = false;
  if (auto e = deps.pg.ensure_physical_slot(params, t.slot, &created)) {
    return outcome(ExitCode::kCloneFailed, fmt::format("cannot create replication slot {} on {}: {}",
                                                       t.slot, params.describe(), e->message));
  }
  spdlog::info("replication slot {} on the primary {}", t.slot, created ? "created" : "exists, reused");

  const std::string pgdata = c.postgres.data_dir;
  const std::string staging = staging_dir_for(pgdata);
  const std::string run = run_dir_for(pgdata);
  StagingGuard guard{pgdata};
  make_private_dir(run);  // 0700, checked; never through a symlink planted there
  const std::string passfile = (fs::path(run) / "pgpass").string();
  agent::write_file_atomic(passfile, passfile_line(c.postgres.replication_user,
                                                   c.postgres.replication_password), 0600);

  CloneRequest req{staging, t.primary_host, address, c.postgres.port, c.postgres.replication_user,
                   c.pod.name, t.slot, passfile, c.init.max_rate, c.postgres.bin_dir,
                   c.postgres.tls_ca_file};
  spdlog::info("cloning {} (system identifier {}) into {} with pg_basebackup{}", params.describe(),
               info->system_identifier, staging,
               c.init.max_rate ? " at most " + agent::format_size(*c.init.max_rate) + "/s" : "");
  ProgressReporter progress(deps.clock, std::chrono::seconds(5));
  const auto result = deps.runner.run(build_basebackup(req), [&](std::string_view line) {
    if (auto p = parse_progress_line(line)) {
      if (auto msg = progress.update(*p)) spdlog::info("{}", *msg);
    } else {
      spdlog::debug("pg_basebackup: {}", line);
    }
  });
  if (!result.ok()) {
    const bool stopped = result.end == agent::ProcessResult::End::kStopped;
    const std::string line = failure_line(result);
    // libpq says "SSL error: certificate verify failed" or "server certificate for ... does
    // not match host name": name the file and the name the replica checked.
    std::string tls_hint;
    if (c.postgres.tls() && (line.find("certificate") != std::string::npos ||
                             line.find("SSL") != std::string::npos))
      tls_hint = fmt::format(" (TLS: the primary's certificate must be issued by the CA in "
                             "postgres.tls_ca_file {} and its SANs cover {}; a replica never "
                             "streams from a server it cannot verify)",
                             c.postgres.tls_ca_file, t.primary_host);
    return outcome(stopped ? ExitCode::kFailed : ExitCode::kCloneFailed,
                   fmt::format("clone from {} {}: pg_basebackup {}: {}{}; the partial copy was "
                               "removed, the next init starts over",
                               params.describe(), stopped ? "interrupted" : "failed",
                               result.describe(), line, tls_hint));
  }
  spdlog::info("pg_basebackup done: {}", progress.summary());

  if (c.init.verify) {
    const auto v = deps.runner.run(build_verifybackup(staging, c.postgres.bin_dir),
                                   [](std::string_view line) { spdlog::debug("pg_verifybackup: {}", line); });
    if (!v.ok()) {
      return outcome(v.end == agent::ProcessResult::End::kStopped ? ExitCode::kFailed
                                                                  : ExitCode::kCloneFailed,
                     fmt::format("the clone failed verification: pg_verifybackup {}: {}; removed",
                                 v.describe(), failure_line(v)));
    }
    spdlog::info("pg_verifybackup: the clone matches its manifest");
  }
  write_replica_files(staging, with_primary_minimums(c, deps, staging),
                      conninfo_for(c, t, address), t.slot);
  // A clone verified its primary (TLS on); markers copied from the primary's data go.
  record_tls_state(c, staging, c.postgres.tls(), false);
  const auto cloned = inspect_data_dir(staging);
  if (cloned.kind != DataDirKind::kReplica || cloned.system_identifier != info->system_identifier) {
    return outcome(ExitCode::kCloneFailed,
                   fmt::format("the clone in {} is not a replica of system {} ({}); removed",
                               staging, info->system_identifier, to_string(cloned.kind)));
  }
  if (agent::stop_requested()) return outcome(ExitCode::kFailed, "stopped by signal before the swap");

  // Foreign data is moved aside only now, with a complete clone ready to take its place.
  const std::string retired = retired_dir_for(pgdata);
  const bool replacing = local.kind == DataDirKind::kReplica || local.kind == DataDirKind::kPrimary ||
                         local.kind == DataDirKind::kUnknownContents;
  if (replacing) {
    fs::remove_all(retired);
    fs::rename(pgdata, retired);
    spdlog::warn("moved the previous contents of {} to {} ({})", pgdata, retired,
                 reclone ? reclone->reason : "not a usable data directory");
  }
  promote_staging(pgdata);
  guard.keep = true;
  fs::remove_all(run);
  if (replacing) fs::remove_all(retired);
  InitOutcome done = outcome(
      ExitCode::kOk,
      fmt::format("{} {} into {}: {}{}", replacing ? "re-cloned" : "cloned", params.describe(),
                  pgdata, progress.summary(), reclone ? " (" + reclone->detail + ")" : ""));
  done.action = replacing ? "reclone" : "clone";
  done.reason = reclone ? reclone->reason : replacing ? "foreign_data" : "";
  return done;
}

}  // namespace

InitOutcome run_replica(const agent::Config& c, InitDeps& deps, const Topology& t,
                        const DataDirState& local) {
  switch (local.kind) {
    case DataDirKind::kMissing:
    case DataDirKind::kEmpty:
      return clone(c, deps, t, local);
    case DataDirKind::kReplica: {
      auto decision = keep_replica(c, deps, t, local);
      if (auto* kept = std::get_if<InitOutcome>(&decision)) return *kept;
      return clone(c, deps, t, local, &std::get<Reclone>(decision));
    }
    case DataDirKind::kPrimary:
      if (c.init.on_foreign_data == agent::OnForeignData::kReclone) {
        const Reclone former{"foreign_data", "a primary's data (no standby.signal) with "
                                             "init.on_foreign_data=reclone"};
        return clone(c, deps, t, local, &former);
      }
      return outcome(ExitCode::kUnsafeData,
                     fmt::format("{} holds a primary's data (no standby.signal; system identifier "
                                 "{}), maybe a former primary: this pod is a replica, so it would "
                                 "diverge; nothing was changed; {}",
                                 c.postgres.data_dir, local.system_identifier, reclone_hint()));
    case DataDirKind::kUnknownContents:
      if (c.init.on_foreign_data == agent::OnForeignData::kReclone) {
        const Reclone unknown{"foreign_data", "not a PostgreSQL data directory (" + local.detail +
                                                  ") with init.on_foreign_data=reclone"};
        return clone(c, deps, t, local, &unknown);
      }
      return outcome(ExitCode::kUnsafeData,
                     fmt::format("{} is not empty and not a PostgreSQL data directory ({}); "
                                 "nothing was changed; {}",
                                 c.postgres.data_dir, local.detail, reclone_hint()));
  }
  return outcome(ExitCode::kFailed, "unreachable");
}

}  // namespace replagent::roles::detail
