#pragma once

#include <string>

#include "agent/config.hpp"
#include "agent/secret.hpp"

namespace replagent::roles {

// The files init owns inside a data directory. Each is rewritten whole on every init, so a
// changed setting (port, listen address, replication user, primary host) takes effect on the
// next pod start without touching the rest of the configuration.

constexpr const char* kIncludeFile = "replagent.conf";
constexpr const char* kPassFile = "replagent.pgpass";

// replagent.conf: listen address, port and the replication settings both roles need (a
// replica can be cloned from, and promoted, with the same file).
std::string render_include(const agent::Config& config);

// postgresql.conf with `include_if_exists = 'replagent.conf'` appended once (last, so ours win
// over earlier lines; ALTER SYSTEM still wins over both).
std::string with_include_directive(const std::string& postgresql_conf);

// replagent's pg_hba block (between BEGIN/END markers): peer on the local socket; the
// superuser rejected over TCP unless postgres.superuser_network_login; the replication role
// for `replication` only, from postgres.allowed_networks; every other role with a password
// from postgres.allowed_networks.
std::string render_hba_block(const agent::Config& config);

// pg_hba.conf with our block put first (pg_hba is first-match) and any earlier copy of it
// removed; foreign lines are kept after it, in their order.
std::string with_hba_block(const std::string& pg_hba, const agent::Config& config);

// A libpq passfile line matching any host for `user` (':' and '\' escaped).
std::string passfile_line(const std::string& user, const agent::Secret& password);

// A libpq connection-string value in single quotes (' and \ escaped), for postgresql.conf-style
// files: conninfo_quote("a b") -> 'a b'.
std::string conninfo_quote(const std::string& value);

// The replica's connection to the primary, written as primary_conninfo.
struct PrimaryConnInfo {
  std::string host;      // the primary's DNS name
  std::string hostaddr;  // pinned address, or empty (the server resolves host itself)
  int port = 5432;
  std::string user;
  std::string passfile;
  std::string application_name;
};
std::string render_primary_conninfo(const PrimaryConnInfo& info);

// postgresql.auto.conf with primary_conninfo and primary_slot_name replaced (pg_basebackup -R
// writes them there; we rewrite them there so the effective values are ours).
std::string with_standby_settings(const std::string& auto_conf, const std::string& conninfo,
                                  const std::string& slot);

// Applies render_include, the include directive, the pg_hba block and (replica) the passfile
// and standby settings to a data directory, each file written atomically.
void write_primary_files(const std::string& data_dir, const agent::Config& config);
void write_replica_files(const std::string& data_dir, const agent::Config& config,
                         const PrimaryConnInfo& primary, const std::string& slot);

}  // namespace replagent::roles
