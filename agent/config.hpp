#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/logging.hpp"
#include "agent/secret.hpp"

namespace replagent::agent {

// init.on_foreign_data: what a replica's init does with a volume holding data of another
// cluster or of a former primary: refuse (exit 5, nothing changed) or re-clone.
enum class OnForeignData { kRefuse, kReclone };
// The setting's value: "refuse", "reclone".
const char* to_string(OnForeignData value);

// backup.source: where a backup reads from.
enum class BackupSourceKind {
  kReplica,  // "replica": a streaming replica of the headless Service, else the primary
  kPrimary,  // "primary": the primary, by its pod name
  kHost,     // any other value: that host (Config::Backup::source_host), and no other
};

// The effective settings (docs/configuration.md, generated from key_reference()). Built by
// load_config from, in rising precedence: defaults, the TOML file, the environment, flags.
struct Config {
  struct Pod {
    std::string name;  // <set>-<ordinal>
    std::string namespace_ = "default";
    std::string service;  // default: the set's name
    std::string cluster_domain = "cluster.local";
    int primary_ordinal = 0;
  } pod;
  struct Postgres {
    std::string data_dir;
    std::string bin_dir;
    std::string host = "127.0.0.1";
    std::uint16_t port = 5432;
    std::string listen_addresses = "*";
    std::string superuser = "postgres";
    std::string superuser_password_file;
    std::string replication_user = "replicator";
    std::string replication_password_file;
    // The sidecar's and probe's role (pg_monitor): reads the statistics, owns nothing.
    std::string monitor_user = "replagent_monitor";
    std::string monitor_password_file;
    // The backup's role (pg_read_all_data): reads every table, cannot write or run programs.
    std::string backup_user = "replagent_backup";
    std::string backup_password_file;
    // The application's role (LOGIN, no other privilege) and database, created by the
    // primary's init when set (pg_roles.hpp); empty: none. The database is owned by app_user
    // (else the superuser).
    std::string app_user;
    std::string app_password_file;
    std::string app_database;
    // Client networks pg_hba admits over TCP (CIDR); the replication role and every other
    // role alike. Local (unix socket) connections use peer authentication.
    std::vector<std::string> allowed_networks{"0.0.0.0/0", "::/0"};
    // Whether the superuser may log in over TCP at all (it always may over the local socket).
    bool superuser_network_login = false;
    // WAL a replication slot may hold back on the primary (max_slot_wal_keep_size); unset:
    // unlimited, PostgreSQL's default. A replica whose slot lost its WAL is re-cloned by init.
    std::optional<std::uint64_t> max_slot_wal_keep_size;
    // PostgreSQL's max_wal_size (the soft bound on WAL kept between checkpoints); unset:
    // PostgreSQL's default (1GB). With max_slot_wal_keep_size it bounds the WAL on the volume.
    std::optional<std::uint64_t> max_wal_size;
    // PostgreSQL's max_wal_senders and max_replication_slots, sized for the set (the chart
    // derives them from maxReplicas). A replica's init keeps at least the primary's
    // max_wal_senders, which its control file records: a hot standby refuses fewer.
    int max_wal_senders = 10;
    int max_replication_slots = 10;
    // Any other PostgreSQL parameters ([postgres.parameters] name = value), written into
    // replagent.conf on every pod, each value quoted (conf_quote). Names are lower-case (GUC
    // names are case-insensitive); values as text (TOML integers, floats and booleans
    // converted: true is "on"). load_config refuses the parameters replagent writes itself
    // (owned_parameters()). A replica's init raises the ones a hot standby needs at least at
    // its primary's value (standby_minimum_parameters()) to that value.
    std::map<std::string, std::string> parameters;
    // Extra pg_hba.conf records, one per entry, written inside replagent's block after its
    // lines for its own roles and before its catch-all lines (pg_hba is first-match: see
    // render_hba_block). Checked by hba_record_problem.
    std::vector<std::string> hba_extra;
    // TLS (agent/tls.hpp): the server's certificate (SANs covering the pod's headless-Service
    // name), its key and the set's CA, as mounted files; all empty: no TLS. With them the
    // server serves TLS, replicas stream with sslmode=verify-full against the CA, and the
    // replication lines of pg_hba are hostssl.
    std::string tls_cert_file;
    std::string tls_key_file;
    std::string tls_ca_file;
    bool tls() const { return !tls_cert_file.empty(); }
    // Resolved from the files above, else from the environment; never printed.
    Secret superuser_password;
    Secret replication_password;
    Secret monitor_password;
    Secret backup_password;
    Secret app_password;
  } postgres;
  struct Dns {
    std::vector<std::string> servers;  // empty: /etc/resolv.conf
    std::chrono::milliseconds timeout{2000};
  } dns;
  struct Init {
    std::chrono::milliseconds wait_timeout{10 * 60 * 1000};
    std::chrono::milliseconds backoff_initial{200};
    std::chrono::milliseconds backoff_max{5000};
    std::optional<std::uint64_t> max_rate;  // bytes/s for pg_basebackup --max-rate
    bool verify = true;
    OnForeignData on_foreign_data = OnForeignData::kRefuse;
    bool allow_empty_primary = false;
    std::string termination_log = "/dev/termination-log";
    // Write the primary's resolved address (hostaddr) into primary_conninfo as well as its
    // name. Off in Kubernetes (pod 0 gets a new IP when recreated, the server re-resolves the
    // name); on where PostgreSQL cannot use the cluster DNS (the loopback demo and tests).
    bool pin_primary_address = false;
    // *.sql files run once, in name order, on a new primary only (after its roles and the
    // application database exist); empty: none.
    std::string scripts_dir;
  } init;
  struct Sidecar {
    std::string listen = "0.0.0.0:9187";
    std::chrono::milliseconds poll_interval{2000};
    std::uint64_t max_lag = 16ULL * 1000 * 1000;
    // A replica that was streaming stays ready this long after it last streamed (the primary
    // restarting, a rolling update, a drain), so reads through -ro keep working; 0: none.
    std::chrono::milliseconds disconnected_grace{5 * 60 * 1000};
    // The primary's sidecar drops the inactive replication slot of a pod whose name has been
    // NXDOMAIN in the headless Service this long (probes/slot_janitor.hpp); 0: never.
    std::chrono::milliseconds slot_drop_after{10 * 60 * 1000};
    // When set, /status answers in full only to `Authorization: Bearer <token>`; others get
    // the same document with error texts reduced to a category.
    std::string status_token_file;
    Secret status_token;
    // The label the sidecar sets on its own pod to its server's role, "primary" or "replica"
    // (roles/role_label.hpp); empty: none. Needs the Kubernetes API below.
    std::string role_label;
    // The API server: by default KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT (set by
    // the kubelet in every container), as client-go's in-cluster configuration.
    std::string kubernetes_host;
    std::uint16_t kubernetes_port = 443;
    std::string kubernetes_token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
    std::string kubernetes_ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  } sidecar;
  struct Backup {
    std::string dir = "/backup";
    int keep = 7;
    BackupSourceKind source = BackupSourceKind::kReplica;
    std::string source_host;            // kHost: the name or address backup.source gives
    std::string database = "postgres";  // the database pg_dump dumps
    // Backups older than this are removed too (never the one just made); unset: count only.
    std::optional<std::chrono::milliseconds> max_age;
  } backup;
  struct Log {
    LogFormat format = LogFormat::kText;
    LogLevel level = LogLevel::kInfo;
  } log;
};

struct ConfigInputs {
  // --config FILE; when absent, /etc/replagent/replagent.toml is read if it exists.
  std::optional<std::string> file;
  std::string default_file = "/etc/replagent/replagent.toml";
  // The TOML text itself, used instead of reading a file (then `file`, if set, only names it
  // in messages): for tests and the config fuzzer (test/fuzz), which must not touch the disk.
  std::optional<std::string> file_text;
  std::map<std::string, std::string> env;  // the process environment
  // Flag settings in command-line order: {"init.wait_timeout", "30s"}.
  std::vector<std::pair<std::string, std::string>> flags;
  // The hostname, the last fallback for pod.name.
  std::string hostname;
};

// Throws AgentError(kUsage) naming the file, variable or flag and the key for any unknown key,
// bad value or unreadable password file (an enum setting's: "... invalid value 'xml' for
// log.format: expected one of text, json"). An unknown REPLAGENT_<SECTION>_* environment
// variable is not an error (a Service's link variables can look like one): it adds a line to
// `warnings`, when given, naming it and the closest key.
Config load_config(const ConfigInputs& inputs, std::vector<std::string>* warnings = nullptr);

// The effective config as TOML; passwords show as "[redacted]" (or are absent).
std::string render_config(const Config& config);

// A password (or token) file as load_config reads it: trailing newlines stripped; throws
// AgentError(kUsage) naming `key` and the path when it is a directory, unreadable or empty.
// For the sidecar, which re-reads rotated Secrets while it runs.
Secret read_password_file(const std::string& path, const std::string& key);

// Every key load_config accepts, "section.key", for --help and error hints.
std::vector<std::string> config_keys();

// One key as the reference (docs/configuration.md, `replagent config --reference`) shows it.
struct KeyReference {
  std::string key;            // "init.wait_timeout"
  std::string env;            // "REPLAGENT_INIT_WAIT_TIMEOUT"
  std::string default_value;  // Markdown: "`10m`", or where a derived default comes from
  std::string value;          // Markdown: the kind of value, "duration", "`refuse` or `reclone`"
  std::string meaning;        // Markdown, one sentence
  bool secret = false;        // environment only: never in a file, `--set` or `config` output
};

// Every key, in config_keys() order. Throws std::logic_error when a key has no description
// or a description no key (the reference's test fails then, naming it).
std::vector<KeyReference> key_reference();

// The non-REPLAGENT_ environment variables load_config reads, with what each sets.
std::vector<std::pair<std::string, std::string>> convention_variables();

// The environment of this process as a map.
std::map<std::string, std::string> current_environment();

// True for the environment variables that carry a password (POSTGRES_PASSWORD,
// REPLAGENT_*PASSWORD*, PG*PASS*): the agent removes them from its own environment once the
// config is loaded, and never passes them to a child.
bool is_secret_variable(const std::string& name);

// Removes every is_secret_variable from this process's environment.
void scrub_secret_environment();

// Validation shared by load_config and its tests.
// A PostgreSQL role name the agent writes into pg_hba and SQL: ^[a-z_][a-z0-9_]{0,62}$.
bool is_valid_role_name(const std::string& name);
// A path safe to hand to pg_ctl (which runs `sh -c`) and to write into PostgreSQL's files: no
// quote, backslash, dollar, backquote or control character. Empty is "why not", else "".
std::string unsafe_path_reason(const std::string& path);
// DNS-1123: a label ([a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63) and a subdomain (labels joined
// by dots, at most 253).
bool is_dns1123_label(const std::string& name);
bool is_dns1123_subdomain(const std::string& name);
// A Kubernetes label key (sidecar.role_label): an optional DNS-1123 subdomain and "/", then a
// name of at most 63 characters, alphanumeric at both ends with [-_.] inside.
bool is_label_key(const std::string& key);

// A mounted Secret's file, its trailing newlines dropped; AgentError (usage) naming `key` and
// the path when it is a directory, cannot be read or is empty.
Secret read_secret_file(const std::string& path, const std::string& key);

// A PostgreSQL parameter replagent writes itself (into replagent.conf, postgresql.auto.conf or
// its command line), which postgres.parameters may not set; `instead` says what to use.
struct OwnedParameter {
  const char* name;
  const char* instead;
};
// Every one, for load_config and its tests (test/unit/pg_files_test.cpp checks that each line
// render_include writes is listed).
const std::vector<OwnedParameter>& owned_parameters();
// The parameters a hot standby refuses to run with below its primary's value (recovery aborts
// "because of insufficient parameter settings"), with the label pg_controldata prints for
// each. postgres.parameters must give them as integers.
struct StandbyMinimum {
  const char* name;               // "max_connections"
  const char* controldata_label;  // "max_connections setting:"
};
const std::vector<StandbyMinimum>& standby_minimum_parameters();
// A parameter name as postgresql.conf reads it (guc-file.l: ID or ID.ID, ASCII here), lower-case.
bool is_parameter_name(const std::string& name);
// Why `line` cannot be a postgres.hba_extra entry, or "" when it can: one pg_hba record (no
// control character, no continuation, no include directive or @file), a known connection type
// and method, not naming the agent's roles nor the replication database (those are the
// agent's lines'), and no trust for every role (it would admit the monitoring and backup roles
// without a password).
std::string hba_record_problem(const std::string& line, const Config& config);

}  // namespace replagent::agent
