// The backup flow as a short script of steps; each step's decisions live in backup_naming,
// backup_source and backup_dump, its file effects in backup_store.
#include "roles/backup.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include "agent/backoff.hpp"
#include "agent/fs.hpp"
#include "agent/topology.hpp"
#include "roles/backup_dump.hpp"
#include "roles/backup_retry.hpp"
#include "roles/backup_source.hpp"
#include "roles/backup_store.hpp"
#include "roles/pg_files.hpp"

namespace replagent::roles {
namespace {

namespace fs = std::filesystem;
using agent::ExitCode;

BackupOutcome failed(std::string message) {
  return BackupOutcome{ExitCode::kCloneFailed, std::move(message)};
}

// Removes the files of an unfinished backup unless it was committed (renamed into place).
struct UnfinishedBackup {
  std::string dir, name;
  bool committed = false;
  ~UnfinishedBackup() {
    if (committed) return;
    for (const std::string_view suffix : {".partial", ".sha256", ".counts"}) {
      std::error_code ec;
      fs::remove(fs::path(dir) / (name + std::string(suffix)), ec);
    }
  }
};

std::string partial_path(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / (name + ".partial")).string();
}

// What the dump step produced.
struct Dumped {
  std::vector<TableCount> counts;
  std::vector<std::string> other_databases;  // asked only when it holds no table
  std::string error;                         // empty on success
  bool recovery_conflict = false;            // the error is the standby cancelling us
};

// Opens a read-only repeatable-read transaction on the source, exports its snapshot, records
// every table's row count in it, and runs pg_dump on the same snapshot: the counts are then
// exactly those of the dump, whatever is written meanwhile, so the restore check can compare
// without a live (and moving) source.
Dumped dump_at_snapshot(const agent::Config& c, BackupDeps& deps, const BackupSource& source,
                        const std::string& output, const std::string& attempt) {
  Dumped out;
  PrivateWorkDir work("replagent-backup");
  const std::string passfile = (fs::path(work.path()) / "pgpass").string();
  agent::write_file_atomic(passfile,
                           passfile_line(c.postgres.backup_user, c.postgres.backup_password), 0600);

  // The snapshot, the row counts and pg_dump all in the database being backed up.
  const agent::ConnParams params =
      agent::backup_to(c, source.host, source.address, c.backup.database);
  agent::PgError err;
  auto session = deps.pg.connect(params, &err);
  if (!session) {
    out.error = fmt::format("cannot connect to {}: {}", params.describe(), err.message);
    return out;
  }
  agent::QueryResult snap;
  if (auto e = session->exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")) {
    out.error = "cannot start the snapshot transaction: " + e->message;
    out.recovery_conflict = is_recovery_conflict(*e);
    return out;
  }
  if (auto e = session->exec("SELECT pg_catalog.pg_export_snapshot()", &snap)) {
    out.error = "cannot export a snapshot: " + e->message;
    out.recovery_conflict = is_recovery_conflict(*e);
    return out;
  }
  if (snap.rows.size() != 1 || snap.rows[0].empty() || !snap.rows[0][0]) {
    out.error = "pg_export_snapshot() returned no snapshot";
    return out;
  }
  const std::string snapshot = *snap.rows[0][0];
  DumpRequest req{output,
                  source.host,
                  source.address,
                  c.postgres.port,
                  c.postgres.backup_user,
                  c.backup.database,
                  snapshot,
                  passfile,
                  c.postgres.bin_dir,
                  c.postgres.tls_ca_file};
  // One line per attempt: which server, and why this one (`attempt`).
  spdlog::info("pg_dump -Fc of database {} from {} into {} at snapshot {} ({})", c.backup.database,
               source.describe(), output, snapshot, attempt);
  // The counts are taken on this session while pg_dump reads on its own connection: both scan
  // every table, and side by side they take about as long as the dump alone. The session is
  // used by the counting thread only until the join.
  std::optional<std::vector<TableCount>> counts;
  std::string why;
  std::thread counter([&] {
    try {
      counts = count_rows(*session, &why);
    } catch (const std::exception& e) {
      why = e.what();
    }
  });
  agent::ProcessResult r;
  try {
    r = deps.runner.run(build_pg_dump(req),
                        [](std::string_view line) { spdlog::debug("pg_dump: {}", line); });
  } catch (...) {
    counter.join();
    throw;
  }
  counter.join();
  if (counts && counts->empty()) out.other_databases = other_databases(*session);
  session->exec("COMMIT");
  if (!r.ok()) {
    const std::string tail = last_line(r);
    // The whole tail: pg_dump prints the server's "canceling statement due to conflict with
    // recovery" after its own "error:" line.
    out.recovery_conflict = is_recovery_conflict(r.output_tail);
    const bool full = tail.find("No space left on device") != std::string::npos;
    out.error = fmt::format("pg_dump {}: {}{}", r.describe(), tail,
                            full ? fmt::format(" (backup.dir {} is full: free space, give the "
                                               "volume more room or lower backup.keep)",
                                               c.backup.dir)
                                 : "");
    return out;
  }
  if (!counts) {
    out.error = "cannot count the rows of the source's tables: " + why;
    out.recovery_conflict = is_recovery_conflict(why);
    return out;
  }
  out.counts = std::move(*counts);
  return out;
}

// What step 4 ended with: the dump, the server it came from (or the last one tried), and the
// recovery conflicts on the way, for the summary.
struct DumpAttempts {
  Dumped dumped;
  BackupSource source;
  std::string history;  // "after 3 recovery conflicts on replica 10.0.0.12 (...)", or empty
};

// Step 4's attempts into `partial`: dump_at_snapshot on `source`; a dump a standby cancelled
// (a recovery conflict) is retried there after a wait, then on the primary when backup.source
// is "replica" (decide_after_dump_failure). Each attempt starts from a new empty file and a
// failed one's output is removed at once: only a complete dump is ever checked and published.
DumpAttempts dump_with_retries(const agent::Config& c, BackupDeps& deps, const BackupTarget& target,
                               BackupSource source, const std::string& partial,
                               const std::string& chosen_because) {
  DumpAttempts out;
  agent::Backoff backoff(kConflictRetryDelay, kConflictRetryMaxDelay);
  std::string why = chosen_because;
  int on_this_server = 0;
  for (int attempt = 1;; ++attempt) {
    ++on_this_server;
    out.source = source;
    try {
      create_private_file(partial);  // 0600 before pg_dump writes a row into it
    } catch (const agent::AgentError& e) {
      if (e.code() == ExitCode::kUsage) throw;
      out.dumped = Dumped{};
      out.dumped.error = e.what();
      return out;
    }
    out.dumped =
        dump_at_snapshot(c, deps, source, partial, fmt::format("attempt {}: {}", attempt, why));
    if (out.dumped.error.empty()) return out;
    std::error_code ec;
    fs::remove(partial, ec);
    const bool any_replica = c.backup.source == agent::BackupSourceKind::kReplica;
    const AfterDumpFailure next = decide_after_dump_failure(
        out.dumped.recovery_conflict, source.role, on_this_server, any_replica);
    if (next == AfterDumpFailure::kGiveUp) {
      if (out.dumped.recovery_conflict) {
        out.dumped.error += fmt::format(
            " (recovery on that standby cancelled the dump {} times in a row; {}: lengthen its "
            "max_standby_streaming_delay, or set backup.source to replica, which falls back to "
            "the primary)",
            on_this_server,
            any_replica ? "no other server was left to try"
                        : "backup.source names it, so no other server was tried");
      }
      return out;
    }
    if (next == AfterDumpFailure::kRetrySameServer) {
      const auto wait = backoff.next();
      spdlog::warn(
          "backup attempt {} from {} was cancelled by a recovery conflict ({}); retrying "
          "on the same server in {}s",
          attempt, source.describe(), out.dumped.error, wait.count() / 1000);
      if (!deps.clock.sleep_for(wait)) {
        out.dumped.error += " (stopped while waiting to retry)";
        return out;
      }
      why = fmt::format("retry {} of {} on this server after a recovery conflict",
                        on_this_server + 1, kDumpAttemptsPerReplica);
      continue;
    }
    // kFallBackToPrimary.
    spdlog::warn(
        "backup attempt {} from {} was cancelled by a recovery conflict ({}); {} "
        "attempts there all conflicted, falling back to the primary",
        attempt, source.describe(), out.dumped.error, on_this_server);
    const std::string history =
        fmt::format("after {} recovery conflicts on {}", on_this_server, source.describe());
    const SourceChoice primary = primary_source(c, target, deps.resolver, deps.pg);
    if (!primary.source) {
      out.dumped.error += fmt::format("; the primary to fall back to: {}", primary.reason);
      return out;
    }
    out.history = history;
    source = *primary.source;
    why = "the primary, " + history;
    on_this_server = 0;
    backoff.reset();
  }
}

// A name not yet taken: two runs within one second (a CronJob retried at once) must not
// collide, so the later one waits for the next second.
std::optional<std::string> pick_name(const std::string& dir, const std::string& set,
                                     BackupDeps& deps) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    const std::string name = backup_file_name(set, deps.clock.wall_now());
    std::error_code ec;
    if (!fs::exists(fs::path(dir) / name, ec) && !fs::exists(partial_path(dir, name), ec))
      return name;
    if (!deps.clock.sleep_for(std::chrono::seconds(1))) break;
  }
  return std::nullopt;
}

void remove_leftovers(const std::string& dir, const std::vector<std::string>& leftovers) {
  for (const auto& file : leftovers) {
    std::error_code ec;
    fs::remove(fs::path(dir) / file, ec);
    if (ec)
      spdlog::warn("cannot remove the leftover {}: {}", file, ec.message());
    else
      spdlog::info("removed {}, left by an interrupted run", file);
  }
}

// Steps 3-7 of run_backup, holding the lock.
BackupOutcome backup_locked(const agent::Config& c, BackupDeps& deps, const BackupTarget& target,
                            const BackupSource& chosen, const std::string& chosen_because,
                            agent::Clock::time_point started) {
  const std::string& dir = c.backup.dir;
  // 3. What an interrupted run left (we hold the lock: nobody else is writing).
  remove_leftovers(dir, scan_backup_dir(dir, target.set).leftovers);

  // 4. The dump, as .partial.
  const auto name = pick_name(dir, target.set, deps);
  if (!name) return failed(fmt::format("cannot pick a free backup name in {}", dir));
  UnfinishedBackup unfinished{dir, *name};
  const std::string partial = partial_path(dir, *name);
  const std::string final_path = (fs::path(dir) / *name).string();
  // The server of the last attempt: after a fallback, the primary.
  BackupSource source = chosen;
  auto fail_with = [&](const std::string& why) {
    return failed(fmt::format("backup from {} failed: {}; {} removed, earlier backups untouched",
                              source.describe(), why, partial));
  };
  const DumpAttempts attempts = dump_with_retries(c, deps, target, chosen, partial, chosen_because);
  source = attempts.source;
  const Dumped& dumped = attempts.dumped;
  if (!dumped.error.empty()) return fail_with(dumped.error);
  // Something to protect: a dump without a table is no backup of the application.
  const bool at_default = c.backup.database == agent::Config::Backup{}.database;
  if (const auto empty = judge_empty_dump(c.backup.database, at_default, dumped.counts.size(),
                                          dumped.other_databases)) {
    // A config error (exit 2), not a failed backup (4): the cure is a setting, and every
    // retry of the Job would fail the same way.
    if (empty->error) return BackupOutcome{ExitCode::kUsage, empty->message};
    spdlog::warn("{}", empty->message);
  }

  try {
    // 5. Durable, then readable: the archive's table of contents must parse in full.
    fsync_file(partial);
    agent::fsync_dir(dir);
    const auto list = deps.runner.run(build_restore_list(partial, c.postgres.bin_dir), nullptr);
    if (!list.ok())
      return fail_with(fmt::format("pg_restore --list {}: {}", list.describe(), last_line(list)));

    // 6. Checksum and counts beside it, then the rename that publishes the backup.
    const std::string hex = sha256_file(partial);
    agent::write_file_atomic(final_path + ".sha256", render_checksum_line(hex, *name), 0600);
    agent::write_file_atomic(final_path + ".counts", render_counts(dumped.counts), 0600);
    if (::rename(partial.c_str(), final_path.c_str()) != 0)
      return fail_with(fmt::format("cannot rename to {}: {}", final_path, std::strerror(errno)));
    unfinished.committed = true;
    agent::fsync_dir(dir);
  } catch (const agent::AgentError& e) {
    if (e.code() == ExitCode::kUsage) throw;
    return fail_with(e.what());
  }

  // 7. Retention: only complete backups of our set are candidates, never the new one.
  const auto scan = scan_backup_dir(dir, target.set);
  const RetentionPlan plan =
      plan_retention(scan.backups, *name, c.backup.keep, c.backup.max_age, deps.clock.wall_now());
  std::vector<std::string> removed;
  for (const auto& old : plan.remove) {
    if (remove_backup(dir, old)) removed.push_back(old);
  }

  BackupSummary s;
  // Names the server the dump came from, and the replica it left when recovery kept
  // cancelling it there.
  s.source = source.describe();
  if (!attempts.history.empty()) s.source += " " + attempts.history;
  std::error_code ec;
  s.bytes = fs::file_size(final_path, ec);
  s.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(deps.clock.now() - started);
  s.file = final_path;
  s.tables = dumped.counts.size();
  for (const auto& t : dumped.counts) s.rows += t.rows;
  s.kept = plan.keep.size();
  s.removed = removed;
  return BackupOutcome{ExitCode::kOk, format_summary(s)};
}

}  // namespace

BackupOutcome run_backup(const agent::Config& c, BackupDeps deps) {
  const BackupTarget target = backup_target_of(c);
  const auto started = deps.clock.now();
  // 1. The source, before anything is written: a run with nothing to back up from leaves
  // backup.dir as it found it (not even created, no lock file in it).
  const SourceChoice choice = choose_backup_source(c, target, deps.resolver, deps.pg);
  if (!choice.source) return failed(fmt::format("no server to back up from: {}", choice.reason));
  if (!choice.reason.empty()) spdlog::warn("backing up the primary: {}", choice.reason);
  const std::string chosen_because = choice.source->role == "replica" ? "a streaming replica"
                                     : choice.source->role == "host"  ? "backup.source names it"
                                     : choice.reason.empty()          ? "backup.source is primary"
                                                             : "the primary: " + choice.reason;

  // 2. backup.dir and its lock.
  std::optional<BackupLock> lock;
  try {
    prepare_backup_dir(c.backup.dir);  // 0700
    lock = BackupLock::try_acquire(c.backup.dir);
  } catch (const agent::AgentError& e) {
    return failed(e.what());
  }
  if (!lock) {
    return BackupOutcome{ExitCode::kOk,
                         fmt::format("another backup is running (it holds {}/.lock); this run "
                                     "does nothing",
                                     c.backup.dir)};
  }
  return backup_locked(c, deps, target, *choice.source, chosen_because, started);
}

}  // namespace replagent::roles
