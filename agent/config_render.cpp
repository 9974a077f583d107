// What is shown of the keys: the effective config (render_config) and the reference
// (key_reference: each key's kind of value, meaning and default, for docs/configuration.md and
// `replagent config --reference`).
#include <toml++/toml.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <variant>

#include "agent/config.hpp"
#include "agent/config_keys.hpp"

namespace replagent::agent {

using config_detail::env_name;
using config_detail::find_key;
using config_detail::keys;

namespace {

// What the reference (docs/configuration.md, `replagent config --reference`) says of each key:
// the kind of value it takes, what it means, and, where the default is not built in but
// derived, where it comes from. Beside keys() (agent/config.cpp) and checked against it both ways
// (key_reference() throws for a key without an entry or an entry without a key), so the
// reference cannot drift from what load_config accepts.
struct KeyDoc {
  const char* name;
  const char* value;
  const char* meaning;
  const char* derived_default = nullptr;  // Markdown; nullptr: the built-in value
};

const std::vector<KeyDoc>& key_docs() {
  static const std::vector<KeyDoc> kDocs = {
      {"pod.name", "DNS-1123 label",
       "This pod's name, `<set>-<ordinal>` (`todo-db-1`): the ordinal makes it the primary or a "
       "replica on first start",
       "`POD_NAME`, else `HOSTNAME`, else the host name"},
      {"pod.namespace", "DNS-1123 label",
       "The namespace, part of the primary's and the peers' DNS names",
       "`POD_NAMESPACE`, else `default`"},
      {"pod.service", "DNS-1123 label",
       "The headless Service (the StatefulSet's `serviceName`) that gives each pod its DNS "
       "name; a backup Job, which is no pod of the set, must set it",
       "the set's name, from `pod.name` (`todo-db-1` -> `todo-db`)"},
      {"pod.cluster_domain", "DNS-1123 subdomain", "The cluster's DNS suffix"},
      {"pod.primary_ordinal", "integer",
       "The ordinal of the primary: that pod initialises an empty volume, every other pod "
       "clones it (the chart's `primaryOrdinal`; the runbook changes it after a promotion)"},
      {"postgres.data_dir", "path", "The data directory, a subdirectory of the volume",
       "the environment's `PGDATA`"},
      {"postgres.bin_dir", "path",
       "Where `initdb`, `pg_ctl`, `pg_basebackup`, `pg_verifybackup`, `pg_dump` and "
       "`pg_restore` are looked for first",
       "(empty: `PATH` only)"},
      {"postgres.host", "address, `localhost` or socket directory",
       "How the sidecar and the probe reach the local server"},
      {"postgres.port", "integer 1-65535", "The server's port, the same on every pod"},
      {"postgres.listen_addresses", "text",
       "PostgreSQL's `listen_addresses`, written by init into `replagent.conf`"},
      {"postgres.superuser", "role name",
       "The superuser role; used by `init` only, over the local socket"},
      {"postgres.superuser_password_file", "path",
       "File holding the superuser's password (a mounted Secret key); or `POSTGRES_PASSWORD`"},
      {"postgres.replication_user", "role name",
       "The role replicas clone and stream as (`REPLICATION`, nothing else)"},
      {"postgres.replication_password_file", "path",
       "File holding the replication role's password"},
      {"postgres.monitor_user", "role name",
       "The role of the sidecar and `replagent probe` (member of `pg_monitor`)"},
      {"postgres.monitor_password_file", "path", "File holding the monitoring role's password"},
      {"postgres.backup_user", "role name",
       "The role of `replagent backup` (`pg_read_all_data`, `pg_read_all_stats`, `BYPASSRLS`)"},
      {"postgres.backup_password_file", "path", "File holding the backup role's password"},
      {"postgres.app_user", "role name, or empty",
       "The application's role, created by the primary's init (`LOGIN`, no other privilege; "
       "owner of `postgres.app_database`)",
       "(empty: none)"},
      {"postgres.app_password_file", "path",
       "File holding the application role's password (applied at each primary start and, by "
       "the primary's sidecar, when the file changes)"},
      {"postgres.app_database", "database name (as a role name), or empty",
       "The application's database, created by the primary's init when missing, owned by "
       "`postgres.app_user` (else the superuser)",
       "(empty: none)"},
      {"postgres.tls_cert_file", "path, or empty",
       "The server's TLS certificate (PEM; intermediates may follow), whose DNS SANs cover the "
       "pod's `<pod>.<service>.<namespace>.svc.<cluster domain>`; with `tls_key_file` and "
       "`tls_ca_file` (all three or none) the server serves TLS, replicas stream only over TLS "
       "with `sslmode=verify-full` against the CA, and the sidecar reloads the server when the "
       "files change. `init` and the sidecar exit 2 when a file is missing, unreadable, "
       "expired, not covering the pod's name, not matching the key or not issued by the CA",
       "(empty: no TLS)"},
      {"postgres.tls_key_file", "path, or empty",
       "The private key of `postgres.tls_cert_file` (PEM, unencrypted; owned by the server's "
       "user with mode 0600, or by root with at most 0640)",
       "(empty: no TLS)"},
      {"postgres.tls_ca_file", "path, or empty",
       "The set's CA certificate(s) (PEM): `tls_cert_file` must chain to it, and replicas "
       "verify their primary against it",
       "(empty: no TLS)"},
      {"postgres.allowed_networks", "list of CIDR networks",
       "Client networks `pg_hba.conf` admits over TCP (scram-sha-256), for every role"},
      {"postgres.superuser_network_login", "boolean",
       "Also admit the superuser over TCP from `postgres.allowed_networks` (it always may over "
       "the local socket)"},
      {"postgres.max_slot_wal_keep_size", "size (at least 16MiB), or `unlimited`",
       "WAL a replication slot may hold back on the primary; a replica whose WAL was removed "
       "is re-cloned by init"},
      {"postgres.max_wal_size", "size (at least 32MiB), or empty",
       "PostgreSQL's `max_wal_size`; empty: PostgreSQL's default (1GB)"},
      {"postgres.max_wal_senders", "integer 1-1000",
       "PostgreSQL's `max_wal_senders`: one per streaming replica, two per clone in progress; a "
       "replica's init keeps at least its primary's value (a hot standby refuses fewer)"},
      {"postgres.max_replication_slots", "integer 1-1000",
       "PostgreSQL's `max_replication_slots`: one per replica of the set"},
      {"postgres.parameters", "table of name = string, integer, float or boolean",
       "Other PostgreSQL parameters, written quoted into `replagent.conf` on every pod (in a "
       "file `[postgres.parameters]`; `--set postgres.parameters.NAME=VALUE` for one; the "
       "environment takes a TOML inline table). The ones replagent writes itself are refused, "
       "naming the key to use. A replica's init keeps `max_connections`, "
       "`max_worker_processes`, `max_prepared_transactions` and `max_locks_per_transaction` "
       "(integers here) at least at its primary's values, which a hot standby needs",
       "(empty: none)"},
      {"postgres.hba_extra", "list of pg_hba.conf records",
       "Extra `pg_hba.conf` lines, written after replagent's lines for its own roles and before "
       "its catch-all `host all all <allowed_networks> scram-sha-256` (first match wins). Each "
       "is one record of a known type and method; lines naming replagent's roles or the "
       "`replication` database, `trust` for `all` users, `include` and `@file` are refused "
       "(the environment takes a TOML array)",
       "(empty: none)"},
      {"postgres.superuser_password", "secret, environment only",
       "The superuser's password itself (prefer the `_file` key)"},
      {"postgres.replication_password", "secret, environment only",
       "The replication role's password itself (prefer the `_file` key)"},
      {"postgres.monitor_password", "secret, environment only",
       "The monitoring role's password itself (prefer the `_file` key)"},
      {"postgres.backup_password", "secret, environment only",
       "The backup role's password itself (prefer the `_file` key)"},
      {"postgres.app_password", "secret, environment only",
       "The application role's password itself (prefer the `_file` key)"},
      {"dns.servers", "list of `ip` or `ip:port`", "The DNS servers the agent asks (c-ares)",
       "(empty: those of `/etc/resolv.conf`)"},
      {"dns.timeout", "duration", "Deadline of one DNS query"},
      {"init.wait_timeout", "duration",
       "How long `init` waits in all for DNS and the primary (then exit 3)"},
      {"init.backoff_initial", "duration",
       "First pause between tries while waiting; it doubles up to `init.backoff_max`"},
      {"init.backoff_max", "duration", "Longest pause between tries while waiting"},
      {"init.max_rate", "bytes per second, 32KiB-1GiB, or empty",
       "Bandwidth cap of a clone (`pg_basebackup --max-rate`)", "(empty: unlimited)"},
      {"init.verify", "boolean",
       "Check a clone with `pg_verifybackup` before it is renamed into place"},
      {"init.on_foreign_data", "`refuse` or `reclone`",
       "Data of another cluster or a former primary in a replica's volume: refuse (exit 5), "
       "or re-clone (the old data is moved aside once the new clone is complete)"},
      {"init.allow_empty_primary", "boolean",
       "Initialise an empty primary volume although a peer still holds data"},
      {"init.termination_log", "path",
       "Where `init` writes its one-line outcome (the Kubernetes termination message), if the "
       "path exists"},
      {"init.pin_primary_address", "boolean",
       "Also write the primary's resolved address into `primary_conninfo` (where PostgreSQL "
       "cannot use the cluster DNS; off in Kubernetes, where pod 0's address changes)"},
      {"init.scripts_dir", "path, or empty",
       "Directory whose `*.sql` files `init` runs with `psql`, in name order, once: on a new "
       "primary only, in `postgres.app_database` (else `postgres`); a failing script fails "
       "`init` and the next start begins again from `initdb`",
       "(empty: none)"},
      {"sidecar.listen", "`address:port`", "The sidecar's HTTP listener"},
      {"sidecar.poll_interval", "duration (at most 1h)",
       "How often the sidecar polls the local server; a snapshot older than three intervals "
       "counts as unknown (503)"},
      {"sidecar.max_lag", "size",
       "How far a replica may lag and still be ready; the default `?lag=` of `/replica`"},
      {"sidecar.disconnected_grace", "duration (`0`: none)",
       "A replica that was streaming stays ready this long after it last streamed (reads go "
       "on while the primary restarts)"},
      {"sidecar.slot_drop_after", "duration (`0`: never)",
       "The primary's sidecar drops the inactive replication slot of a pod that has been "
       "NXDOMAIN in the headless Service this long"},
      {"sidecar.status_token_file", "path",
       "File holding the bearer token that gets `/status` in full; empty: everyone gets the "
       "reduced document"},
      {"sidecar.status_token", "secret, environment only",
       "The `/status` token itself (prefer the `_file` key)"},
      {"sidecar.role_label", "label key, or empty",
       "The sidecar labels its own pod with this key and its server's role (`primary`, "
       "`replica`) through the Kubernetes API, for Services that select by role (the chart's "
       "`-ro`); empty: no label"},
      {"sidecar.kubernetes_host", "address or name",
       "The Kubernetes API server for `sidecar.role_label`; empty: `KUBERNETES_SERVICE_HOST`"},
      {"sidecar.kubernetes_port", "integer 1-65535",
       "Its port; with `sidecar.kubernetes_host` empty, `KUBERNETES_SERVICE_PORT`"},
      {"sidecar.kubernetes_token_file", "path",
       "The service account's token (read at each call: the kubelet rotates it)"},
      {"sidecar.kubernetes_ca_file", "path",
       "The CA the API server's certificate is checked against"},
      {"backup.dir", "path", "Where `replagent backup` writes its dumps (the CronJob's volume)"},
      {"backup.keep", "integer 1-100000", "How many backups to keep, the newest"},
      {"backup.source", "`replica`, `primary` or a host",
       "Where the backup reads from: a streaming replica (else the primary, with a warning), "
       "the primary, or that host"},
      {"backup.database", "database name", "The database `pg_dump` dumps"},
      {"backup.max_age", "duration (at most 20 years), or empty",
       "Backups older than this are removed too (never the one just made)",
       "(empty: by count only)"},
      {"log.format", "`text` or `json`", "Log format (also `--log-format`)"},
      {"log.level", "`trace`, `debug`, `info`, `warn` or `error`",
       "Lowest level logged (also `--log-level`)"},
  };
  return kDocs;
}

}  // namespace

std::string render_config(const Config& c) {
  toml::table root;
  for (const auto& k : keys()) {
    if (k.secret || !k.render) continue;
    const auto dot = k.name.find('.');
    const std::string section = k.name.substr(0, dot);
    if (!root.contains(section)) root.insert(section, toml::table{});
    auto* table = root[section].as_table();
    const std::string key = k.name.substr(dot + 1);
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            toml::array arr;
            for (const auto& item : v) arr.push_back(item);
            table->insert(key, std::move(arr));
          } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
            toml::table sub;
            for (const auto& [name, value] : v) sub.insert(name, value);
            table->insert(key, std::move(sub));
          } else {
            table->insert(key, v);
          }
        },
        k.render(c));
  }
  auto* pg = root["postgres"].as_table();
  pg->insert("superuser_password",
             c.postgres.superuser_password.empty() ? "(not set)" : "[redacted]");
  pg->insert("replication_password",
             c.postgres.replication_password.empty() ? "(not set)" : "[redacted]");
  std::ostringstream out;
  out << root << "\n";
  return out.str();
}

std::vector<KeyReference> key_reference() {
  const Config defaults;
  std::vector<KeyReference> out;
  for (const auto& k : keys()) {
    const auto doc = std::find_if(key_docs().begin(), key_docs().end(),
                                  [&](const KeyDoc& d) { return k.name == d.name; });
    if (doc == key_docs().end())
      throw std::logic_error("key " + k.name +
                             " has no entry in key_docs() (agent/config_render.cpp): "
                             "add its value kind and meaning there");
    KeyReference r{k.name, env_name(k.name), "", doc->value, doc->meaning, k.secret};
    if (doc->derived_default) {
      r.default_value = doc->derived_default;
    } else if (k.render) {
      // The built-in value, as `replagent config` prints it.
      r.default_value = std::visit(
          [](const auto& v) -> std::string {
            using T = std::decay_t<decltype(v)>;
            std::string shown;
            if constexpr (std::is_same_v<T, std::vector<std::string>>) {
              for (const auto& item : v) shown += (shown.empty() ? "" : ", ") + item;
            } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
              for (const auto& [name, value] : v)
                shown += (shown.empty() ? "" : ", ") + name + " = " + value;
            } else if constexpr (std::is_same_v<T, bool>) {
              shown = v ? "true" : "false";
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
              shown = std::to_string(v);
            } else {
              shown = v;
            }
            return shown.empty() ? "(empty)" : "`" + shown + "`";
          },
          k.render(defaults));
    } else {
      r.default_value = "(not set)";
    }
    out.push_back(std::move(r));
  }
  for (const auto& d : key_docs()) {
    if (!find_key(d.name))
      throw std::logic_error(std::string("key_docs() (agent/config_render.cpp) describes ") +
                             d.name + ", which is no key: remove or rename the entry");
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> convention_variables() {
  // The order load_config reads them in; each is overridden by its REPLAGENT_* key.
  return {
      {"POD_NAME", "`pod.name` (the chart sets it from `metadata.name`)"},
      {"HOSTNAME", "`pod.name` when `POD_NAME` is not set (a pod's host name is its name)"},
      {"POD_NAMESPACE", "`pod.namespace` (the chart sets it from `metadata.namespace`)"},
      {"PGDATA", "`postgres.data_dir`, as the official postgres image names it"},
      {"POSTGRES_PASSWORD",
       "`postgres.superuser_password`, as the official postgres image names it"},
      {"TMPDIR", "where temporary servers and work files go (`backup --verify-restore`)"},
  };
}

}  // namespace replagent::agent
