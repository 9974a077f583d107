#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "agent/config.hpp"
#include "agent/secret.hpp"

namespace replagent::roles {

// The files init owns inside a data directory. Each is rewritten whole on every init, so a
// changed setting (port, listen address, replication user, primary host) takes effect on the
// next pod start without touching the rest of the configuration.

constexpr const char* kIncludeFile = "replagent.conf";
constexpr const char* kPassFile = "replagent.pgpass";
// TLS being turned on for a running set (tls_transition below): markers in the data directory.
// kTlsVerifiedFile: this replica's data has streamed from a primary it verified; from then on
// it never connects to its primary without verifying it. kTlsPendingFile: init found the primary
// serving no TLS yet and wrote an interim sslmode=prefer conninfo, which the sidecar replaces
// with the verifying one as soon as the primary verifies (roles/tls_upgrade.hpp).
constexpr const char* kTlsVerifiedFile = "replagent.tls_verified";
constexpr const char* kTlsPendingFile = "replagent.tls_pending";
// Records that this replica verified its primary: writes kTlsVerifiedFile, removes
// kTlsPendingFile (init after a verified contact or a clone, the sidecar after its switch).
void mark_tls_verified(const std::string& data_dir);

// replagent.conf: listen address, port and the replication settings both roles need (a
// replica can be cloned from, and promoted, with the same file), then postgres.parameters.
std::string render_include(const agent::Config& config);

// postgresql.conf with `include_if_exists = 'replagent.conf'` appended once (last, so ours win
// over earlier lines; ALTER SYSTEM still wins over both).
std::string with_include_directive(const std::string& postgresql_conf);

// replagent's pg_hba block (between BEGIN/END markers): peer on the local socket; the
// superuser rejected over TCP unless postgres.superuser_network_login; the replication role
// for `replication` only, from postgres.allowed_networks; every other role with a password
// from postgres.allowed_networks. postgres.hba_extra goes between the lines for replagent's
// own roles and replication (first, so they always win) and the catch-all lines for every
// other role (`local all all peer`, `host all all <network> scram-sha-256`), so an extra line
// decides for the connections it matches but never for replagent's roles.
std::string render_hba_block(const agent::Config& config);

// pg_hba.conf with our block put first (pg_hba is first-match) and any earlier copy of it
// removed; foreign lines are kept after it, in their order.
std::string with_hba_block(const std::string& pg_hba, const agent::Config& config);

// pg_ident.conf's "replagent" map (in the same BEGIN/END block, put first): `os_user`, the
// OS user that runs the server and every replagent process of the pod, as the monitoring role,
// the superuser and the replication role over the local socket. With it the sidecar and the
// probe reach their server as the monitoring role without a password (health never depends
// on a Secret), and the primary's sidecar applies rotated passwords as the superuser. An
// os_user pg_ident cannot hold (empty: no name) gives a block without lines.
std::string render_ident_block(const agent::Config& config, const std::string& os_user);
std::string with_ident_block(const std::string& pg_ident, const agent::Config& config,
                             const std::string& os_user);

// The name of `uid` in a passwd file ("" when it has none).
std::string os_user_name(uid_t uid, const std::string& passwd_path = "/etc/passwd");

// One quoting function per file format. Each output reads back, by PostgreSQL's own rules, as
// exactly the value given, or the function throws agent::AgentError(kUsage) saying which
// value cannot be written and why (test/unit/pg_grammar.hpp holds parsers of each grammar;
// test/fuzz checks render -> parse == input).

// A postgresql.conf string literal, as the configuration lexer reads it (guc-file.l,
// GUC_scanstr): inside '...' a backslash escapes the next character (\n, \t and octal \ooo
// are special) and '' is one quote, so both quote and backslash are escaped: a'b\c is
// written 'a''b\\c'. A raw newline ends the literal and '\0' ends the C string, so control
// characters (below 0x20, and 0x7f) are refused: no setting replagent writes can hold one,
// and escaping them would only hide a broken value. Bytes from 0x80 up pass through unchanged.
// `what` names the value in the error: "cluster_name (pod.name)".
std::string conf_quote(std::string_view value, std::string_view what);

// A libpq passfile line matching any host, port and database for `user` (fe-connect.c,
// passwordFromFile): ':' and '\' escaped in both fields, and a user of exactly "*" (which would
// match every user) as "\*". libpq reads the file line by line and strips trailing '\r', so a
// user or password containing '\n', '\r' or '\0' is refused (the error never shows the password).
std::string passfile_line(const std::string& user, const agent::Secret& password);

// A libpq connection-string value in single quotes (fe-connect.c, conninfo_parse): quote and
// backslash escaped by a backslash, everything else literal: it's is written 'it\'s'. A '\0' would
// end the C string early and is refused. (A conninfo written into postgresql.conf goes through
// conf_quote as well, which refuses control characters.)
std::string conninfo_quote(const std::string& value);

// The replica's connection to the primary, written as primary_conninfo.
struct PrimaryConnInfo {
  std::string host;      // the primary's DNS name
  std::string hostaddr;  // pinned address, or empty (the server resolves host itself)
  int port = 5432;
  std::string user;
  std::string passfile;
  std::string application_name;
  // The set's CA (postgres.tls_ca_file) when TLS is on, else empty: see tls_conninfo.
  std::string ssl_root_cert;
  // TLS is on but the primary serves none yet and this replica never verified it: the interim
  // sslmode=prefer (kInterimTls) instead of verify-full. See kTlsPendingFile.
  bool tls_pending = false;
};
std::string render_primary_conninfo(const PrimaryConnInfo& info);

// " sslmode=verify-full sslrootcert='<ca>'" for a connection to another pod of the set when TLS
// is on (`ssl_root_cert` not empty), else "". verify-full checks the certificate against the
// conninfo's host= (the pod's DNS name), also when hostaddr= pins the address, so a replica
// never streams from a server that cannot show a certificate of the set's CA for that name.
std::string tls_conninfo(const std::string& ssl_root_cert);

// The interim TLS part of a pending replica's conninfo (PrimaryConnInfo::tls_pending): TLS when
// the primary offers it, not verified. It ends the conninfo, so verified_conninfo can replace it.
constexpr const char* kInterimTls = " sslmode=prefer";

// A pending replica's conninfo with the interim part replaced by tls_conninfo(ssl_root_cert);
// nullopt when `conninfo` does not end with kInterimTls (not one init wrote as pending).
std::optional<std::string> verified_conninfo(const std::string& conninfo,
                                             const std::string& ssl_root_cert);

// postgresql.auto.conf with primary_conninfo and primary_slot_name replaced (pg_basebackup -R
// writes them there; we rewrite them there so the effective values are ours).
std::string with_standby_settings(const std::string& auto_conf, const std::string& conninfo,
                                  const std::string& slot);

// Applies render_include, the include directive, the pg_hba and pg_ident blocks and (replica) the
// passfile and standby settings to a data directory, each file written atomically.
void write_primary_files(const std::string& data_dir, const agent::Config& config);
void write_replica_files(const std::string& data_dir, const agent::Config& config,
                         const PrimaryConnInfo& primary, const std::string& slot);

}  // namespace replagent::roles
