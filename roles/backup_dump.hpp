// The dump itself: pg_dump -Fc at a snapshot this agent exported (so the row counts it records
// are those of the dump), the pg_restore --list check, and the private directory for the
// passfile. Used by `replagent backup`; the row-count query is shared with the restore check.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/pg.hpp"
#include "agent/process.hpp"
#include "roles/backup_naming.hpp"

namespace replagent::roles {

// A private 0700 directory under $TMPDIR (else /tmp), removed with its contents on
// destruction: the passfile, and the restore check's temporary server.
class PrivateWorkDir {
 public:
  explicit PrivateWorkDir(const std::string& prefix);  // throws AgentError
  ~PrivateWorkDir();
  PrivateWorkDir(const PrivateWorkDir&) = delete;
  PrivateWorkDir& operator=(const PrivateWorkDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct DumpRequest {
  std::string output;    // the .partial path
  std::string host;      // for messages and TLS
  std::string hostaddr;  // numeric
  int port = 5432;
  std::string user;
  std::string dbname = "postgres";
  std::string snapshot;  // pg_export_snapshot() of our open transaction; empty: pg_dump's own
  std::string passfile;
  std::string bin_dir;
  std::string ssl_root_cert;  // the set's CA when TLS is on: sslmode=verify-full (tls_conninfo)
};
// pg_dump -Fc -f <output> [--snapshot=ID] -d <conninfo>, the password from PGPASSFILE only.
agent::ProcessSpec build_pg_dump(const DumpRequest& request);
// pg_restore --list <file>: reads the whole table of contents, so a truncated or mangled
// archive fails here instead of on the day it is needed.
agent::ProcessSpec build_restore_list(const std::string& file, const std::string& bin_dir);

// Exact row counts (count(*)) of every permanent user table of the session's database, in the
// session's snapshot. Unlogged tables are left out: a standby cannot read them and pg_dump
// skips their data there. Extension member tables too (pg_dump does not dump their rows).
std::optional<std::vector<TableCount>> count_rows(agent::PgSession& session, std::string* error);

// The databases of the session's server other than its own that one can connect to
// (pg_database is readable by every role), sorted; empty when the query fails. For the hint of
// a dump that holds no table: which database was probably meant.
std::vector<std::string> other_databases(agent::PgSession& session);

// The last non-empty line a child printed, for one-line error messages.
std::string last_line(const agent::ProcessResult& r);

}  // namespace replagent::roles
