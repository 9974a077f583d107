// Recovery conflicts on a hot standby: which failures are one, and what a backup does next.
#include "roles/backup_retry.hpp"

#include <gtest/gtest.h>

namespace replagent::roles {
namespace {

TEST(BackupRetry, RecoveryConflictIsRecognisedInToolOutputAndServerErrors) {
  const std::pair<const char*, bool> outputs[] = {
      // pg_dump blocked on a lock the startup process needed.
      {"pg_dump: error: query failed: ERROR:  canceling statement due to conflict with recovery\n"
       "DETAIL:  User was holding a relation lock for too long.\n"
       "pg_dump: detail: Query was: LOCK TABLE public.t IN ACCESS SHARE MODE\n",
       true},
      // pg_dump in COPY when VACUUM's cleanup record removed rows its snapshot sees.
      {"pg_dump: error: Dumping the contents of table \"t\" failed: PQgetResult() failed.\n"
       "pg_dump: detail: Error message from server: ERROR:  canceling statement due to conflict "
       "with recovery\nDETAIL:  User query might have needed to see row versions that must be "
       "removed.\n",
       true},
      // An idle session in a transaction holding the lock is ended instead.
      {"FATAL:  terminating connection due to conflict with recovery", true},
      {"pg_dump: error: could not write to output file: No space left on device", false},
      {"pg_dump: error: connection to server failed: Connection refused", false},
      {"ERROR:  canceling statement due to user request", false},
      {"", false},
  };
  for (const auto& [text, conflict] : outputs)
    EXPECT_EQ(is_recovery_conflict(std::string_view(text)), conflict) << text;

  // A server speaking another language: its SQLSTATE still tells.
  EXPECT_TRUE(is_recovery_conflict(agent::PgError{
      "40001", "ABBRUCH: storniere Anfrage wegen Konflikt mit der Wiederherstellung"}));
  EXPECT_TRUE(is_recovery_conflict(
      agent::PgError{"", "FATAL:  terminating connection due to conflict with recovery"}));
  EXPECT_FALSE(
      is_recovery_conflict(agent::PgError{"57014", "canceling statement due to user request"}));
  EXPECT_FALSE(is_recovery_conflict(agent::PgError{"28P01", "password authentication failed"}));
}

TEST(BackupRetry, DecisionAfterAFailedDump) {
  using A = AfterDumpFailure;
  struct Case {
    bool conflict;
    const char* role;
    int attempts;
    bool may_fall_back;
    A expected;
  };
  const int n = kDumpAttemptsPerReplica;
  const Case cases[] = {
      // Any other failure repeats or needs a person: no retry here.
      {false, "replica", 1, true, A::kGiveUp},
      {false, "primary", 1, true, A::kGiveUp},
      // A conflict: the same server again, up to the bound.
      {true, "replica", 1, true, A::kRetrySameServer},
      {true, "replica", n - 1, true, A::kRetrySameServer},
      // Then the primary, when backup.source is "replica".
      {true, "replica", n, true, A::kFallBackToPrimary},
      {true, "replica", n, false, A::kGiveUp},
      // A named host that is a standby: retried, never replaced.
      {true, "host", 1, false, A::kRetrySameServer},
      {true, "host", n, false, A::kGiveUp},
      {true, "host", n, true, A::kGiveUp},
      // The primary is the last resort.
      {true, "primary", n, true, A::kGiveUp},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(decide_after_dump_failure(c.conflict, c.role, c.attempts, c.may_fall_back),
              c.expected)
        << c.role << " conflict=" << c.conflict << " attempts=" << c.attempts
        << " may_fall_back=" << c.may_fall_back << ": " << to_string(c.expected);
  }
}

}  // namespace
}  // namespace replagent::roles
