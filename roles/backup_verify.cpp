// `backup --list` and `backup --verify-restore`: read-only towards backup.dir, so they take no
// lock; a backup that retention removes meanwhile shows as a clear error, never as damage.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "agent/topology.hpp"
#include "roles/backup.hpp"
#include "roles/backup_dump.hpp"
#include "roles/backup_source.hpp"
#include "roles/backup_store.hpp"
#include "roles/pg_files.hpp"

namespace replagent::roles {
namespace {

namespace fs = std::filesystem;
using agent::ExitCode;

ListedBackup::Checksum check_checksum(const std::string& dir, const std::string& name) {
  const auto line = read_text_file((fs::path(dir) / (name + ".sha256")).string());
  const auto expected = line ? parse_checksum_line(*line) : std::nullopt;
  if (!expected) return ListedBackup::Checksum::kMissing;
  return sha256_file((fs::path(dir) / name).string()) == *expected
             ? ListedBackup::Checksum::kOk
             : ListedBackup::Checksum::kMismatch;
}

agent::ProcessSpec tool(const agent::Config& c, const char* program,
                        std::vector<std::string> args) {
  agent::ProcessSpec spec;
  spec.program = program;
  spec.search_dir = c.postgres.bin_dir;
  spec.args = std::move(args);
  // Nothing the agent inherited may authenticate for the temporary server's tools.
  spec.env["PGPASSWORD"] = "";
  return spec;
}

agent::ProcessResult run_logged(BackupDeps& deps, const agent::ProcessSpec& spec) {
  const std::string name = spec.program;
  return deps.runner.run(spec, [&](std::string_view line) { spdlog::debug("{}: {}", name, line); });
}

// The temporary server of the restore check: initdb in a private directory, listening on a
// unix socket there only (nothing else can connect), fsync off (its data is thrown away).
class TemporaryServer {
 public:
  TemporaryServer(const agent::Config& c, BackupDeps& deps, const std::string& work)
      : c_(c), deps_(deps), data_((fs::path(work) / "data").string()), socket_dir_(work) {}
  ~TemporaryServer() {
    if (started_)
      run_logged(deps_,
                 tool(c_, "pg_ctl", {"-D", data_, "-m", "immediate", "-w", "-t", "60", "stop"}));
  }

  // Empty on success, else why not.
  std::string start() {
    auto r = run_logged(deps_, tool(c_, "initdb",
                                    {"-D", data_, "-U", c_.postgres.superuser, "--auth=trust", "-E",
                                     "UTF8", "--no-sync", "--no-instructions"}));
    if (!r.ok()) return fmt::format("initdb {}: {}", r.describe(), last_line(r));
    const std::string opts = fmt::format(
        "-c listen_addresses='' -c unix_socket_directories='{}' -p {} -c fsync=off "
        "-c full_page_writes=off -c synchronous_commit=off",
        socket_dir_, c_.postgres.port);
    const std::string log = (fs::path(socket_dir_) / "server.log").string();
    r = run_logged(deps_, tool(c_, "pg_ctl",
                               {"-D", data_, "-w", "-t", "120", "-l", log, "-o", opts, "start"}));
    if (!r.ok()) return fmt::format("pg_ctl start {}: {}", r.describe(), last_line(r));
    started_ = true;
    return "";
  }

  // The restore and the counts run as kRestoreRole, an ordinary role that owns the database
  // the dump is restored into: a dump holds what a database owner wrote (functions, index
  // expressions, defaults), and pg_restore and the row counts execute some of it. As a
  // superuser that code could run programs as the backup Job's OS user, next to the backups;
  // as this role it can do nothing outside that throw-away database.
  static constexpr const char* kRestoreRole = "replagent_restore";
  static constexpr const char* kRestoreDatabase = "restore_check";

  // Empty on success, else why not. The superuser's only statements in the temporary server.
  std::string prepare_restore_target() {
    agent::ConnParams p = params(c_.postgres.superuser, "postgres");
    agent::PgError err;
    auto session = deps_.pg.connect(p, &err);
    if (!session) return "cannot connect to the temporary server: " + err.message;
    const std::string statements[] = {
        fmt::format("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE", kRestoreRole),
        fmt::format("CREATE DATABASE {} OWNER {}", kRestoreDatabase, kRestoreRole)};
    for (const auto& sql : statements) {
      if (auto e = session->exec(sql)) return sql + ": " + e->message;
    }
    return "";
  }

  agent::ConnParams params(const std::string& user = kRestoreRole,
                           const std::string& dbname = kRestoreDatabase) const {
    return agent::restore_check_to(c_, socket_dir_, user, dbname);
  }

  std::string conninfo() const {
    return fmt::format("host={} port={} user={} dbname={}", conninfo_quote(socket_dir_),
                       c_.postgres.port, conninfo_quote(kRestoreRole),
                       conninfo_quote(kRestoreDatabase));
  }

 private:
  const agent::Config& c_;
  BackupDeps& deps_;
  std::string data_;
  std::string socket_dir_;
  bool started_ = false;
};

}  // namespace

BackupOutcome run_backup_list(const agent::Config& c, BackupDeps deps, std::ostream& out) {
  const BackupTarget target = backup_target_of(c);
  std::vector<BackupEntry> backups;
  try {
    backups = scan_backup_dir(c.backup.dir, target.set).backups;
  } catch (const agent::AgentError& e) {
    return BackupOutcome{ExitCode::kCloneFailed, e.what()};
  }
  // Nothing to list is nothing protected: the wrong volume at backup.dir, a set name that is
  // not the one the backups carry, or no backup ever made. --list is how that gets checked.
  if (backups.empty()) {
    return BackupOutcome{
        ExitCode::kCloneFailed,
        fmt::format("no backups of {} in {}: check backup.dir and the volume mounted there, and "
                    "that pod.service (REPLAGENT_POD_SERVICE) names the set; backups are named "
                    "{}-<UTC time>.dump",
                    target.set, c.backup.dir, target.set)};
  }
  std::sort(backups.begin(), backups.end(),
            [](const BackupEntry& a, const BackupEntry& b) { return a.taken > b.taken; });
  const WallTime now = deps.clock.wall_now();
  int bad = 0;
  for (const auto& b : backups) {
    ListedBackup l;
    l.name = b.name;
    l.bytes = b.bytes;
    l.age = std::chrono::duration_cast<std::chrono::seconds>(now - b.taken);
    l.checksum = check_checksum(c.backup.dir, b.name);
    bad += l.checksum != ListedBackup::Checksum::kOk;
    out << format_list_line(l) << "\n";
  }
  out.flush();
  if (bad > 0) {
    return BackupOutcome{ExitCode::kCloneFailed,
                         fmt::format("{} of {} backups of {} in {} fail their checksum: do not "
                                     "restore from them",
                                     bad, backups.size(), target.set, c.backup.dir)};
  }
  return BackupOutcome{ExitCode::kOk, fmt::format("{} backups of {} in {}, checksums ok",
                                                  backups.size(), target.set, c.backup.dir)};
}

BackupOutcome run_restore_check(const agent::Config& c, BackupDeps deps) {
  auto fail = [](std::string m) { return BackupOutcome{ExitCode::kCloneFailed, std::move(m)}; };
  // 1. The newest backup, whole and with its recorded row counts.
  const BackupTarget target = backup_target_of(c);
  const auto newest = newest_backup(scan_backup_dir(c.backup.dir, target.set).backups);
  if (!newest) return fail(fmt::format("no backup of {} in {} to check", target.set, c.backup.dir));
  const std::string path = (fs::path(c.backup.dir) / newest->name).string();
  switch (check_checksum(c.backup.dir, newest->name)) {
    case ListedBackup::Checksum::kOk:
      break;
    case ListedBackup::Checksum::kMismatch:
      return fail(
          fmt::format("{}: checksum mismatch (the file changed after the backup): it "
                      "cannot be trusted; take a new backup",
                      path));
    case ListedBackup::Checksum::kMissing:
      return fail(fmt::format("{}: no readable {}.sha256 beside it", path, newest->name));
  }
  const auto counts_text = read_text_file(path + ".counts");
  const auto source_counts = counts_text ? parse_counts(*counts_text) : std::nullopt;
  if (!source_counts)
    return fail(fmt::format("{}: no readable {}.counts beside it", path, newest->name));

  // 2. A temporary server, and the restore into it.
  const auto started = deps.clock.now();
  PrivateWorkDir work("replagent-restore");
  TemporaryServer server(c, deps, work.path());
  if (auto why = server.start(); !why.empty())
    return fail("cannot start the temporary server for the restore check: " + why);
  if (auto why = server.prepare_restore_target(); !why.empty())
    return fail("cannot prepare the temporary server for the restore check: " + why);
  spdlog::info("restoring {} into a temporary server in {}", path, work.path());
  // Roles and grants of the source do not exist in the temporary server; the rows are what
  // is checked, so ownership and privileges are left out. Objects that only a superuser may
  // create (untrusted extensions, C functions) fail the check: restoring them would run the
  // dump's code with a superuser's rights.
  const auto r = run_logged(deps, tool(c, "pg_restore",
                                       {"--exit-on-error", "--no-owner", "--no-privileges", "-d",
                                        server.conninfo(), path}));
  if (!r.ok())
    return fail(
        fmt::format("{} does not restore: pg_restore {}: {}", path, r.describe(), last_line(r)));

  // 3. Row counts against the source's at the dump's snapshot.
  agent::PgError err;
  auto session = deps.pg.connect(server.params(), &err);
  if (!session) return fail("cannot connect to the temporary server: " + err.message);
  std::string why;
  const auto restored = count_rows(*session, &why);
  if (!restored) return fail("cannot count the restored rows: " + why);
  const auto diffs = compare_counts(*source_counts, *restored);
  std::uint64_t rows = 0;
  for (const auto& t : *source_counts) rows += t.rows;
  const double secs = std::chrono::duration<double>(deps.clock.now() - started).count();
  if (!diffs.empty()) {
    std::string list;
    for (std::size_t i = 0; i < diffs.size() && i < 10; ++i) list += (i ? "; " : "") + diffs[i];
    return fail(fmt::format("{} restored, but {} of {} tables differ from the source: {}", path,
                            diffs.size(), source_counts->size(), list));
  }
  return BackupOutcome{ExitCode::kOk,
                       fmt::format("restore check passed: {} restored in {:.1f}s, {} tables / {} "
                                   "rows match the source at the dump's snapshot",
                                   path, secs, source_counts->size(), rows)};
}

}  // namespace replagent::roles
