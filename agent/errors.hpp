// agent/: the process shell around the roles: entry point, config, identity, logging,
// signals, and the one thin wrapper per C library (dns: c-ares, pg: libpq, process: Boost.Process).
#pragma once

#include <stdexcept>
#include <string>

namespace replagent::agent {

// Exit codes are a contract (DESIGN.md): Kubernetes and scripts branch on them.
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

inline AgentError usage_error(const std::string& message) {
  return AgentError(ExitCode::kUsage, message);
}

}  // namespace replagent::agent
