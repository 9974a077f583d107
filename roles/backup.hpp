// `replagent backup` for a Job/CronJob: one pg_dump of the set (a streaming replica by
// default) into backup.dir, checked, checksummed and renamed into place, then retention.
// `--list` shows the backups and whether their checksums still match; `--verify-restore`
// restores the newest into a temporary server and compares row counts with the source's at
// the dump's snapshot.
#pragma once

#include <functional>
#include <map>
#include <ostream>
#include <string>

#include "agent/clock.hpp"
#include "agent/config.hpp"
#include "agent/dns.hpp"
#include "agent/effects.hpp"
#include "agent/errors.hpp"
#include "agent/pg.hpp"
#include "agent/process.hpp"
#include "roles/backup_naming.hpp"

namespace replagent::roles {

// The effects the backup flows use (agent/effects.hpp): clock.wall_now() is the UTC time in
// file names and ages.
using BackupDeps = agent::Effects;

struct BackupOutcome {
  agent::ExitCode code = agent::ExitCode::kOk;
  std::string message;  // one line: the summary, or what failed and what to do
};

// Expected failures (no source, pg_dump failed, disk full) are outcomes with kCloneFailed (4);
// an overlapping run is kOk with "another backup is running". backup.database left at its
// default while that database holds no table is an outcome with kUsage (2), and nothing is
// published (judge_empty_dump). Throws AgentError(kUsage) for configuration errors. The source
// is chosen before backup.dir is touched: a run without one creates neither it nor its lock.
BackupOutcome run_backup(const agent::Config& config, BackupDeps deps);
// Writes one line per backup to `out`; kCloneFailed when a checksum is missing or wrong, when
// backup.dir cannot be listed (missing: the volume not mounted) or holds no backup of the set.
BackupOutcome run_backup_list(const agent::Config& config, BackupDeps deps, std::ostream& out);
// kCloneFailed when the newest backup's checksum is wrong, it does not restore, or the row
// counts differ from those recorded at the dump's snapshot.
BackupOutcome run_restore_check(const agent::Config& config, BackupDeps deps);

}  // namespace replagent::roles
