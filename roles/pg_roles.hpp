#pragma once

// The roles the primary's init creates and keeps in step with the mounted Secrets, one per
// job, so no component but init carries the superuser's password:
//   replication (REPLICATION)       replicas clone and stream with it
//   monitor     (pg_monitor)         the sidecar and the probe read the statistics
//   backup      (pg_read_all_data,   pg_dump reads every table; it cannot write, create
//                pg_read_all_stats)  functions or run programs (unlike a superuser); the
//                                    statistics tell it which replica streams
//   app         (LOGIN only)         the application's role, when postgres.app_user is set;
//                                    it owns postgres.app_database, created by init
// Each role's password is set from its file at every primary start, so rotating a Secret and
// restarting the primary is enough; a role without a configured password is created without
// one (it cannot log in over the network) and its password is left alone.
#include <optional>
#include <string>
#include <vector>

#include "agent/config.hpp"
#include "agent/pg.hpp"

namespace replagent::roles {

struct ManagedRole {
  std::string name;
  std::string attributes;  // CREATE/ALTER ROLE options, e.g. "LOGIN REPLICATION"
  const agent::Secret* password;
  std::vector<std::string> member_of;  // predefined roles to grant
};

// The roles above for this config (the superuser first, whose password is only ever altered).
std::vector<ManagedRole> managed_roles(const agent::Config& config);

// Creates or alters each role over `session` (a superuser's, on the local socket). Nothing is
// logged with a password; passwords travel as SCRAM verifiers. Returns an error text, or
// nullopt when every role is in step.
std::optional<std::string> reconcile_roles(agent::PgSession& session, const agent::Config& config);

// Creates postgres.app_database when set and missing, owned by postgres.app_user (else the
// superuser); an existing database is left as it is (its owner too). Runs after
// reconcile_roles, at every primary start, so an existing cluster gains it too. Returns an
// error text, or nullopt.
std::optional<std::string> ensure_app_database(agent::PgSession& session,
                                               const agent::Config& config);

}  // namespace replagent::roles
