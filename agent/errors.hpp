// agent/: the process shell around the roles: entry point, config, identity, logging,
// signals, and the one thin wrapper per C library (dns: c-ares, pg: libpq, process: Boost.Process).
#pragma once

#include <stdexcept>
#include <string>

namespace replagent::agent {

// Exit codes are a contract (docs/configuration.md): Kubernetes and scripts branch on them.
enum class ExitCode : int {
  kOk = 0,
  kFailed = 1,       // generic failure
  kUsage = 2,        // bad flag, bad config value, unknown key
  kTimedOut = 3,     // waited too long for DNS or the primary
  kCloneFailed = 4,  // clone or backup failed
  kUnsafeData = 5,   // refused to touch a data directory
};

// Thrown for broken invariants and config errors; caught once at the subcommand boundary,
// which logs the message and exits with the code. Expected outcomes are values, not this.
class AgentError : public std::runtime_error {
 public:
  AgentError(ExitCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

// Each exit code with its meaning, for the reference (docs/configuration.md) and its test.
struct ExitCodeInfo {
  ExitCode code;
  const char* meaning;
};
inline constexpr ExitCodeInfo kExitCodes[] = {
    {ExitCode::kOk, "done"},
    {ExitCode::kFailed, "failed (generic); for `probe`: the check did not pass"},
    {ExitCode::kUsage,
     "usage or config error: a bad flag, an unknown key, a bad value, an "
     "unreadable password file"},
    {ExitCode::kTimedOut,
     "timed out waiting for DNS or the primary (`init.wait_timeout`); "
     "`promote`: DNS could not tell whether the primary is gone"},
    {ExitCode::kCloneFailed, "clone, backup or restore check failed"},
    {ExitCode::kUnsafeData,
     "refused to touch a data directory (foreign data, an empty primary "
     "while a peer holds data, promote while the primary answers)"},
};

inline AgentError usage_error(const std::string& message) {
  return AgentError(ExitCode::kUsage, message);
}

}  // namespace replagent::agent
