// What a backup does after a dump failed: a hot standby cancels queries that conflict with the
// WAL it replays (an AccessExclusiveLock from DROP/TRUNCATE/ALTER or VACUUM's truncation, a
// cleanup record removing rows the dump's snapshot still sees) once max_standby_streaming_delay
// (30s by default) has passed. That says nothing about the data or the backup's settings, so
// such a failure is retried on the same replica a few times, then (backup.source "replica"
// only) on the primary, which has no recovery to conflict with.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "agent/pg.hpp"

namespace replagent::roles {

// Attempts on one replica before giving up on it, and the waits between them (doubling). A
// conflict repeats while what caused it lasts (a long migration, a VACUUM): the waits give it
// time to end, and their total stays short beside a Job's activeDeadlineSeconds.
inline constexpr int kDumpAttemptsPerReplica = 3;
inline constexpr std::chrono::milliseconds kConflictRetryDelay{std::chrono::seconds(5)};
inline constexpr std::chrono::milliseconds kConflictRetryMaxDelay{std::chrono::seconds(60)};

// True when a PostgreSQL tool's output or a server error is the standby cancelling the
// statement ("canceling statement due to conflict with recovery", SQLSTATE 40001) or ending
// the session ("terminating connection due to conflict with recovery", 40001 or 57P04 when
// the database was dropped). pg_dump prints the server's message but not its SQLSTATE, so the
// text decides; a server whose lc_messages is not English translates it, and its conflicts
// then fail the backup like any other error.
bool is_recovery_conflict(std::string_view output);
bool is_recovery_conflict(const agent::PgError& error);

enum class AfterDumpFailure {
  kGiveUp,             // not a conflict, or nowhere left to try
  kRetrySameServer,    // after a wait
  kFallBackToPrimary,  // the replica kept conflicting; backup.source allows the primary
};
const char* to_string(AfterDumpFailure a);

// `source_role` is BackupSource::role ("replica", "primary", "host"); `attempts` the dumps
// tried on that server so far (1 after the first failure); `may_fall_back`: backup.source is
// "replica" (a named host or "primary" is what the user asked for, and only that).
AfterDumpFailure decide_after_dump_failure(bool recovery_conflict, const std::string& source_role,
                                           int attempts, bool may_fall_back);

}  // namespace replagent::roles
