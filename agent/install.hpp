#pragma once

#include <string>

namespace replagent::agent {

// Copies the running executable to <dir>/replagent with mode 0755: written to a temporary
// file in <dir>, fsynced, then renamed over the old copy, so a pod that runs the old copy
// never sees a half-written file. Idempotent. Throws AgentError naming the directory.
std::string install_self(const std::string& dir);

// install_self's work with the file to copy named: what the tests use, so they copy a few
// bytes instead of the 90 MB test binary.
std::string install_file(const std::string& source, const std::string& dir);

}  // namespace replagent::agent
