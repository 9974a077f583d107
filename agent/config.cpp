// The table of settable keys (agent/config_keys.hpp): each key's name, how its value is
// parsed and checked (agent/config_values.hpp) and how it is shown. The environment variable
// of a key is derived from its name; what the reference says of each is in
// agent/config_render.cpp, checked against this table both ways.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "agent/config_keys.hpp"
#include "agent/config_values.hpp"
#include "agent/units.hpp"

namespace replagent::agent {
namespace config_detail {
namespace {

Rendered str_node(const std::string& v) { return Rendered(v); }

}  // namespace

#define REPLAGENT_STR_KEY(NAME, FIELD)                                \
  Key {                                                               \
    NAME, [](Config& c, const std::string& v) { c.FIELD = text(v); }, \
        [](const Config& c) { return str_node(c.FIELD); }             \
  }
#define REPLAGENT_DURATION_KEY(NAME, FIELD)                                  \
  Key {                                                                      \
    NAME, [](Config& c, const std::string& v) { c.FIELD = to_duration(v); }, \
        [](const Config& c) { return str_node(format_duration(c.FIELD)); }   \
  }
// A string key whose value is checked by CHECK (a function that returns it or calls bad()).
#define REPLAGENT_CHECKED_KEY(NAME, FIELD, CHECK)                      \
  Key {                                                                \
    NAME, [](Config& c, const std::string& v) { c.FIELD = CHECK(v); }, \
        [](const Config& c) { return str_node(c.FIELD); }              \
  }
#define REPLAGENT_SECRET_KEY(NAME, FIELD)                                             \
  Key {                                                                               \
    NAME, [](Config& c, const std::string& v) { c.FIELD = Secret(v); }, nullptr, true \
  }

const std::vector<Key>& keys() {
  static const std::vector<Key> kKeys = {
      // pod.name is checked after loading (it may come from the hostname too).
      REPLAGENT_STR_KEY("pod.name", pod.name),
      REPLAGENT_CHECKED_KEY("pod.namespace", pod.namespace_, dns_label),
      REPLAGENT_CHECKED_KEY("pod.service", pod.service, dns_label_or_empty),
      REPLAGENT_CHECKED_KEY("pod.cluster_domain", pod.cluster_domain, dns_subdomain),
      Key{"pod.primary_ordinal",
          [](Config& c, const std::string& v) { c.pod.primary_ordinal = to_int(v, 0, 1 << 30); },
          [](const Config& c) { return Rendered(std::int64_t{c.pod.primary_ordinal}); }},
      REPLAGENT_CHECKED_KEY("postgres.data_dir", postgres.data_dir, safe_path),
      REPLAGENT_CHECKED_KEY("postgres.bin_dir", postgres.bin_dir, safe_path),
      REPLAGENT_STR_KEY("postgres.host", postgres.host),
      Key{"postgres.port",
          [](Config& c, const std::string& v) {
            c.postgres.port = static_cast<std::uint16_t>(to_int(v, 1, 65535));
          },
          [](const Config& c) { return Rendered(std::int64_t{c.postgres.port}); }},
      REPLAGENT_STR_KEY("postgres.listen_addresses", postgres.listen_addresses),
      REPLAGENT_CHECKED_KEY("postgres.superuser", postgres.superuser, role_name),
      REPLAGENT_CHECKED_KEY("postgres.superuser_password_file", postgres.superuser_password_file,
                            safe_path),
      REPLAGENT_CHECKED_KEY("postgres.replication_user", postgres.replication_user, role_name),
      REPLAGENT_CHECKED_KEY("postgres.replication_password_file",
                            postgres.replication_password_file, safe_path),
      REPLAGENT_CHECKED_KEY("postgres.monitor_user", postgres.monitor_user, role_name),
      REPLAGENT_CHECKED_KEY("postgres.monitor_password_file", postgres.monitor_password_file,
                            safe_path),
      REPLAGENT_CHECKED_KEY("postgres.backup_user", postgres.backup_user, role_name),
      REPLAGENT_CHECKED_KEY("postgres.backup_password_file", postgres.backup_password_file,
                            safe_path),
      REPLAGENT_CHECKED_KEY("postgres.app_user", postgres.app_user, role_name_or_empty),
      REPLAGENT_CHECKED_KEY("postgres.app_password_file", postgres.app_password_file, safe_path),
      REPLAGENT_CHECKED_KEY("postgres.app_database", postgres.app_database, database_name_or_empty),
      REPLAGENT_CHECKED_KEY("postgres.tls_cert_file", postgres.tls_cert_file, safe_path),
      REPLAGENT_CHECKED_KEY("postgres.tls_key_file", postgres.tls_key_file, safe_path),
      REPLAGENT_CHECKED_KEY("postgres.tls_ca_file", postgres.tls_ca_file, safe_path),
      Key{"postgres.allowed_networks",
          [](Config& c, const std::string& v) {
            auto list = to_list(v);
            if (list.empty()) bad("at least one network in CIDR notation, e.g. 10.0.0.0/8");
            for (const auto& n : list)
              if (!is_cidr(n))
                bad("networks in CIDR notation such as 10.0.0.0/8 or ::/0, not '" + n + "'");
            c.postgres.allowed_networks = std::move(list);
          },
          [](const Config& c) { return Rendered(c.postgres.allowed_networks); }},
      Key{"postgres.superuser_network_login",
          [](Config& c, const std::string& v) { c.postgres.superuser_network_login = to_bool(v); },
          [](const Config& c) { return Rendered(bool{c.postgres.superuser_network_login}); }},
      Key{"postgres.max_slot_wal_keep_size",
          [](Config& c, const std::string& v) {
            if (v.empty() || v == "unlimited" || v == "-1") {
              c.postgres.max_slot_wal_keep_size.reset();
              return;
            }
            c.postgres.max_slot_wal_keep_size = to_size(v);
            // Less than one WAL segment would invalidate a slot at every checkpoint.
            if (*c.postgres.max_slot_wal_keep_size < 16ULL * 1024 * 1024)
              bad("a size of at least 16MiB (one WAL segment), or unlimited");
          },
          [](const Config& c) {
            return str_node(c.postgres.max_slot_wal_keep_size
                                ? format_size_exact(*c.postgres.max_slot_wal_keep_size)
                                : "unlimited");
          }},
      Key{"postgres.max_wal_size",
          [](Config& c, const std::string& v) {
            if (v.empty() || v == "default") {
              c.postgres.max_wal_size.reset();
              return;
            }
            c.postgres.max_wal_size = to_size(v);
            // PostgreSQL refuses less than two WAL segments.
            if (*c.postgres.max_wal_size < 32ULL * 1024 * 1024)
              bad("a size of at least 32MiB (two WAL segments), or empty for PostgreSQL's default");
          },
          [](const Config& c) {
            return str_node(c.postgres.max_wal_size ? format_size_exact(*c.postgres.max_wal_size)
                                                    : "");
          }},
      Key{"postgres.max_wal_senders",
          [](Config& c, const std::string& v) { c.postgres.max_wal_senders = to_int(v, 1, 1000); },
          [](const Config& c) { return Rendered(std::int64_t{c.postgres.max_wal_senders}); }},
      Key{"postgres.max_replication_slots",
          [](Config& c, const std::string& v) {
            c.postgres.max_replication_slots = to_int(v, 1, 1000);
          },
          [](const Config& c) { return Rendered(std::int64_t{c.postgres.max_replication_slots}); }},
      Key{"postgres.parameters",
          [](Config& c, const std::string& v) {
            with_toml_value(v,
                            "a TOML inline table such as { work_mem = \"64MB\", "
                            "max_connections = 200 }",
                            [&](const toml::node& n) { set_parameters(c, n); });
          },
          [](const Config& c) { return Rendered(c.postgres.parameters); }, false,
          [](Config& c, const toml::node& n) { set_parameters(c, n); }},
      Key{"postgres.hba_extra",
          [](Config& c, const std::string& v) {
            with_toml_value(v,
                            "a TOML array of strings such as [\"hostssl all all 10.0.0.0/8 cert\"]",
                            [&](const toml::node& n) { set_hba_extra(c, n); });
          },
          [](const Config& c) { return Rendered(c.postgres.hba_extra); }, false,
          [](Config& c, const toml::node& n) { set_hba_extra(c, n); }},
      REPLAGENT_SECRET_KEY("postgres.superuser_password", postgres.superuser_password),
      REPLAGENT_SECRET_KEY("postgres.replication_password", postgres.replication_password),
      REPLAGENT_SECRET_KEY("postgres.monitor_password", postgres.monitor_password),
      REPLAGENT_SECRET_KEY("postgres.backup_password", postgres.backup_password),
      REPLAGENT_SECRET_KEY("postgres.app_password", postgres.app_password),
      Key{"dns.servers", [](Config& c, const std::string& v) { c.dns.servers = to_list(v); },
          [](const Config& c) { return Rendered(c.dns.servers); }},
      REPLAGENT_DURATION_KEY("dns.timeout", dns.timeout),
      REPLAGENT_DURATION_KEY("init.wait_timeout", init.wait_timeout),
      REPLAGENT_DURATION_KEY("init.backoff_initial", init.backoff_initial),
      REPLAGENT_DURATION_KEY("init.backoff_max", init.backoff_max),
      Key{"init.max_rate",
          [](Config& c, const std::string& v) {
            if (v.empty()) {
              c.init.max_rate.reset();
              return;
            }
            c.init.max_rate = to_size(v);
            // pg_basebackup accepts 32 kB/s to 1 GB/s.
            if (*c.init.max_rate < 32 * 1024 || *c.init.max_rate > 1024ULL * 1024 * 1024)
              bad("a rate between 32KiB and 1GiB (bytes per second), or empty for unlimited");
          },
          [](const Config& c) {
            return str_node(c.init.max_rate ? format_size_exact(*c.init.max_rate) : "");
          }},
      Key{"init.verify", [](Config& c, const std::string& v) { c.init.verify = to_bool(v); },
          [](const Config& c) { return Rendered(bool{c.init.verify}); }},
      Key{"init.on_foreign_data",
          [](Config& c, const std::string& v) {
            c.init.on_foreign_data = to_enum(v, {OnForeignData::kRefuse, OnForeignData::kReclone});
          },
          [](const Config& c) { return str_node(to_string(c.init.on_foreign_data)); }},
      Key{"init.allow_empty_primary",
          [](Config& c, const std::string& v) { c.init.allow_empty_primary = to_bool(v); },
          [](const Config& c) { return Rendered(bool{c.init.allow_empty_primary}); }},
      REPLAGENT_CHECKED_KEY("init.termination_log", init.termination_log, safe_path),
      Key{"init.pin_primary_address",
          [](Config& c, const std::string& v) { c.init.pin_primary_address = to_bool(v); },
          [](const Config& c) { return Rendered(bool{c.init.pin_primary_address}); }},
      REPLAGENT_CHECKED_KEY("init.scripts_dir", init.scripts_dir, safe_path),
      REPLAGENT_STR_KEY("sidecar.listen", sidecar.listen),
      Key{"sidecar.poll_interval",
          [](Config& c, const std::string& v) {
            c.sidecar.poll_interval = to_duration(v, std::chrono::hours(1));
          },
          [](const Config& c) { return str_node(format_duration(c.sidecar.poll_interval)); }},
      Key{"sidecar.max_lag",
          [](Config& c, const std::string& v) { c.sidecar.max_lag = to_size(v); },
          [](const Config& c) { return str_node(format_size_exact(c.sidecar.max_lag)); }},
      REPLAGENT_DURATION_KEY("sidecar.disconnected_grace", sidecar.disconnected_grace),
      REPLAGENT_DURATION_KEY("sidecar.slot_drop_after", sidecar.slot_drop_after),
      REPLAGENT_CHECKED_KEY("sidecar.status_token_file", sidecar.status_token_file, safe_path),
      REPLAGENT_SECRET_KEY("sidecar.status_token", sidecar.status_token),
      Key{"sidecar.role_label",
          [](Config& c, const std::string& v) {
            if (!v.empty() && !is_label_key(v))
              bad("a Kubernetes label key, e.g. replagent.io/role (an optional DNS-subdomain "
                  "prefix and '/', then at most 63 characters: letters, digits, '-', '_', '.', "
                  "alphanumeric at both ends), or empty for none");
            c.sidecar.role_label = v;
          },
          [](const Config& c) { return str_node(c.sidecar.role_label); }},
      REPLAGENT_STR_KEY("sidecar.kubernetes_host", sidecar.kubernetes_host),
      Key{"sidecar.kubernetes_port",
          [](Config& c, const std::string& v) {
            c.sidecar.kubernetes_port = static_cast<std::uint16_t>(to_int(v, 1, 65535));
          },
          [](const Config& c) { return Rendered(std::int64_t{c.sidecar.kubernetes_port}); }},
      REPLAGENT_CHECKED_KEY("sidecar.kubernetes_token_file", sidecar.kubernetes_token_file,
                            safe_path),
      REPLAGENT_CHECKED_KEY("sidecar.kubernetes_ca_file", sidecar.kubernetes_ca_file, safe_path),
      Key{"backup.dir",
          [](Config& c, const std::string& v) {
            // Empty is a value left blank (a ConfigMap, an env), not a directory to create.
            if (v.empty()) bad("a directory, e.g. /backup (where the backup volume is mounted)");
            c.backup.dir = safe_path(v);
          },
          [](const Config& c) { return str_node(c.backup.dir); }},
      Key{"backup.keep",
          [](Config& c, const std::string& v) { c.backup.keep = to_int(v, 1, 100000); },
          [](const Config& c) { return Rendered(std::int64_t{c.backup.keep}); }},
      Key{"backup.source", [](Config& c, const std::string& v) { set_backup_source(c, v); },
          [](const Config& c) { return str_node(backup_source_text(c)); }},
      Key{"backup.database",
          [](Config& c, const std::string& v) {
            if (v.empty()) bad("a database name, e.g. todo");
            c.backup.database = v;
          },
          [](const Config& c) { return str_node(c.backup.database); }},
      Key{"backup.max_age",
          [](Config& c, const std::string& v) {
            if (v.empty()) {
              c.backup.max_age.reset();
              return;
            }
            // Backups may be kept for years; the bound only keeps now() - max_age in range.
            c.backup.max_age = to_duration(v, std::chrono::hours(24 * 366 * 20));
            if (c.backup.max_age->count() <= 0) bad("a duration above 0, or empty for no limit");
          },
          [](const Config& c) {
            return str_node(c.backup.max_age ? format_duration(*c.backup.max_age) : "");
          }},
      Key{"log.format",
          [](Config& c, const std::string& v) {
            c.log.format = to_enum(v, {LogFormat::kText, LogFormat::kJson});
          },
          [](const Config& c) { return str_node(to_string(c.log.format)); }},
      Key{"log.level",
          [](Config& c, const std::string& v) {
            c.log.level = to_enum(v, {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo,
                                      LogLevel::kWarn, LogLevel::kError});
          },
          [](const Config& c) { return str_node(to_string(c.log.level)); }},
  };
  return kKeys;
}

#undef REPLAGENT_STR_KEY
#undef REPLAGENT_DURATION_KEY
#undef REPLAGENT_CHECKED_KEY
#undef REPLAGENT_SECRET_KEY

const Key* find_key(const std::string& name) {
  for (const auto& k : keys())
    if (k.name == name) return &k;
  return nullptr;
}

std::string env_name(const std::string& key) {
  std::string out = "REPLAGENT_";
  for (char c : key) out += c == '.' ? '_' : static_cast<char>(std::toupper(c));
  return out;
}

namespace {

// Edit distance between two names, for "did you mean".
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

}  // namespace

// The key whose environment name is nearest to `variable`.
const Key& closest_key(const std::string& variable) {
  const Key* best = &keys().front();
  std::size_t best_distance = SIZE_MAX;
  for (const auto& k : keys()) {
    const std::size_t d = edit_distance(variable, env_name(k.name));
    if (d < best_distance) {
      best = &k;
      best_distance = d;
    }
  }
  return *best;
}

std::vector<std::string> sections() {
  std::vector<std::string> out;
  for (const auto& k : keys()) {
    auto s = k.name.substr(0, k.name.find('.'));
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  return out;
}

namespace {

// The key nearest to `name` ("init.wait_timout" -> "init.wait_timeout"); a name without a
// section is compared with the keys' own parts ("wait_timeout" -> "init.wait_timeout").
const Key& closest_key_name(const std::string& name) {
  const bool bare = name.find('.') == std::string::npos;
  const Key* best = &keys().front();
  std::size_t best_distance = SIZE_MAX;
  for (const auto& k : keys()) {
    const std::size_t d = edit_distance(name, bare ? k.name.substr(k.name.find('.') + 1) : k.name);
    if (d < best_distance) {
      best = &k;
      best_distance = d;
    }
  }
  return *best;
}

}  // namespace

// For an unknown "section.key" (from a file or --set): the known keys of its section, or,
// when the section is misspelt too, the sections; the closest key; and where every key is
// described.
std::string unknown_key_hint(const std::string& name) {
  const auto dot = name.find('.');
  const std::string section = dot == std::string::npos ? "" : name.substr(0, dot);
  std::string list;
  for (const auto& k : keys()) {
    if (!section.empty() && k.name.rfind(section + ".", 0) == 0)
      list += (list.empty() ? "" : ", ") + k.name;
  }
  if (list.empty()) {
    for (const auto& s : sections()) list += (list.empty() ? "" : ", ") + s;
    list = (section.empty() ? "a key is section.key; sections: "
                            : "no section [" + section + "]; sections: ") +
           list;
  } else {
    list = "known keys in [" + section + "]: " + list;
  }
  return fmt::format(" (did you mean {}? {}; {})", closest_key_name(name).name, list,
                     kReferenceHint);
}

}  // namespace config_detail

std::vector<std::string> config_keys() {
  std::vector<std::string> out;
  for (const auto& k : config_detail::keys()) out.push_back(k.name);
  return out;
}

}  // namespace replagent::agent
