#include "roles/backup_retry.hpp"

namespace replagent::roles {

bool is_recovery_conflict(std::string_view output) {
  // Both the cancel ("canceling statement due to ...") and the FATAL that ends an idle
  // session in a transaction ("terminating connection due to ...") end with this phrase;
  // nothing else PostgreSQL 15 says does.
  return output.find("due to conflict with recovery") != std::string_view::npos;
}

bool is_recovery_conflict(const agent::PgError& error) {
  // Our sessions on the source are READ ONLY and REPEATABLE READ, where a serialization
  // failure (40001) only ever comes from a write; on a standby it is the conflict, whatever
  // language the server speaks.
  return error.sqlstate == "40001" || is_recovery_conflict(error.message);
}

const char* to_string(AfterDumpFailure a) {
  switch (a) {
    case AfterDumpFailure::kGiveUp:
      return "give up";
    case AfterDumpFailure::kRetrySameServer:
      return "retry on the same server";
    case AfterDumpFailure::kFallBackToPrimary:
      return "fall back to the primary";
  }
  return "?";
}

AfterDumpFailure decide_after_dump_failure(bool recovery_conflict, const std::string& source_role,
                                           int attempts, bool may_fall_back) {
  // Anything else (a full volume, a dropped database, a wrong password, a dead server) fails
  // the same way again, or needs a person: the Job's own backoffLimit is the retry for that.
  if (!recovery_conflict) return AfterDumpFailure::kGiveUp;
  // A named host may be a standby too: it gets the same retries, but no other server.
  if (attempts < kDumpAttemptsPerReplica) return AfterDumpFailure::kRetrySameServer;
  if (source_role == "replica" && may_fall_back) return AfterDumpFailure::kFallBackToPrimary;
  return AfterDumpFailure::kGiveUp;
}

}  // namespace replagent::roles
