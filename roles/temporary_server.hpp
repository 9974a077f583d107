#pragma once

// The temporary server through which init creates and alters roles (internal to roles/).

#include <functional>
#include <optional>
#include <string>

#include "roles/init.hpp"

namespace replagent::roles::detail {

// Runs `spec`, its output logged at debug level.
agent::ProcessResult run_logged(InitDeps& deps, agent::ProcessSpec spec);

// The private run directory, removed again when init is done with it.
struct RunDir {
  explicit RunDir(std::string p);
  ~RunDir();
  RunDir(const RunDir&) = delete;
  RunDir& operator=(const RunDir&) = delete;
  std::string path;
};

// What runs on the temporary server once the roles and the database are in step (the init
// scripts of a new primary); returns a failure, or nullopt.
using OnTemporaryServer = std::function<std::optional<InitOutcome>()>;

// Starts a temporary server on `data_dir`, brings the roles in step (pg_roles.hpp) and the
// application database into being, runs `then` if given, stops the server.
std::optional<InitOutcome> reconcile_roles_on(const agent::Config& c, InitDeps& deps,
                                              const std::string& data_dir, const std::string& run,
                                              const OnTemporaryServer& then = nullptr);

}  // namespace replagent::roles::detail
