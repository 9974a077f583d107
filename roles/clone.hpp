#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/clock.hpp"
#include "agent/process.hpp"

namespace replagent::roles {

// Everything pg_basebackup needs, decided before it runs.
struct CloneRequest {
  std::string target_dir;  // the staging directory
  std::string host;        // the primary's DNS name (messages, TLS)
  std::string hostaddr;    // its resolved address (the static agent never resolves names itself)
  int port = 5432;
  std::string user;
  std::string application_name;  // the pod's name
  std::string slot;
  std::string passfile;  // a 0600 file in the run directory; the password never goes in argv
  std::optional<std::uint64_t> max_rate;  // bytes per second
  std::string bin_dir;
  std::string ssl_root_cert;  // the set's CA when TLS is on: sslmode=verify-full (tls_conninfo)
};

// pg_basebackup -D <dir> -X stream -c fast -R -S <slot> --progress --verbose -d <conninfo>
// [--max-rate N] with PGPASSFILE in the environment. The conninfo sets
// wal_sender_timeout=0: a long clone of a big database must not be cut by the sender's
// timeout while the receiver is busy writing.
agent::ProcessSpec build_basebackup(const CloneRequest& request);

// pg_verifybackup <dir>: checks every file against backup_manifest and parses the WAL.
agent::ProcessSpec build_verifybackup(const std::string& dir, const std::string& bin_dir);

// One pg_basebackup --progress line, e.g. "  2312/145678 kB (1%), 0/1 tablespace (...)".
struct Progress {
  std::uint64_t done_kb = 0;
  std::uint64_t total_kb = 0;
  int percent = 0;
};
std::optional<Progress> parse_progress_line(std::string_view line);

// Turns progress lines into at most one log line per interval: percent, MB/s, ETA.
class ProgressReporter {
 public:
  ProgressReporter(agent::Clock& clock, std::chrono::milliseconds interval);
  // Returns the line to log now, if any.
  std::optional<std::string> update(const Progress& p);
  // The closing summary: size, duration, average rate.
  std::string summary() const;

 private:
  agent::Clock& clock_;
  std::chrono::milliseconds interval_;
  agent::Clock::time_point start_;
  agent::Clock::time_point last_report_;
  Progress last_{};
};

}  // namespace replagent::roles
