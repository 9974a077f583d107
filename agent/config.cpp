#include "agent/config.hpp"

#include <fmt/format.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <variant>
#include <cstring>
#include <toml++/toml.h>

#include "agent/errors.hpp"
#include "agent/identity.hpp"
#include "agent/units.hpp"

extern char** environ;

namespace replagent::agent {
namespace {

// A key's value as the config output shows it.
using Rendered = std::variant<std::string, std::int64_t, bool, std::vector<std::string>,
                              std::map<std::string, std::string>>;

// One settable key. `set` parses a textual value (from TOML, env or a flag) or throws a
// std::invalid_argument whose text says what was expected; the caller adds where it came from.
struct Key {
  std::string name;  // "section.key"
  std::function<void(Config&, const std::string&)> set;
  std::function<Rendered(const Config&)> render;  // empty: not rendered
  bool secret = false;  // env only, never in a file, never rendered
  // A key whose value is a TOML table or array (postgres.parameters, postgres.hba_extra): a
  // file gives the node; `set` parses the environment's or a flag's text as a TOML value.
  std::function<void(Config&, const toml::node&)> set_node = nullptr;
};

[[noreturn]] void bad(const std::string& expected) { throw std::invalid_argument(expected); }

// A whole sentence naming the key (and the entry) that is wrong, for the keys whose values
// are tables or lists: apply() prefixes where the value came from, nothing else.
struct KeyError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
  KeyError(const std::string& what, std::uint32_t entry_line)
      : std::invalid_argument(what), line(entry_line) {}
  std::uint32_t line = 0;  // the entry's line in a TOML file; 0: the key's
};

bool has_control(const std::string& v, bool allow_tab = false) {
  return std::any_of(v.begin(), v.end(), [&](char ch) {
    const auto u = static_cast<unsigned char>(ch);
    return (u < 0x20 && !(allow_tab && ch == '\t')) || u == 0x7f;
  });
}

// The environment's or a flag's text of a table or list key, read as a TOML value
// ("{ work_mem = \"64MB\" }", "[\"host ...\"]"); `expected` says what it should be.
void with_toml_value(const std::string& text, const std::string& expected,
                     const std::function<void(const toml::node&)>& use) {
  toml::table root;
  try {
    root = toml::parse("value = " + text);
  } catch (const toml::parse_error&) {
    bad(expected);
  }
  // One value and nothing after it (apply() already refused line breaks).
  if (root.size() != 1 || !root.contains("value")) bad(expected);
  use(*root.get("value"));
}

std::string lower(std::string v) {
  for (auto& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return v;
}

// One postgres.parameters entry: `name` as given, `value` as text. Returns the lower-case name.
std::string check_parameter(const std::string& given, const std::string& value) {
  const std::string key = "postgres.parameters." + given;
  const std::string name = lower(given);
  if (!is_parameter_name(name)) {
    throw KeyError(fmt::format(
        "{}: not a PostgreSQL parameter name (letters, digits and _, starting with a letter or "
        "_, optionally one '.' for an extension's parameter such as pg_stat_statements.max)",
        key));
  }
  for (const auto& owned : owned_parameters()) {
    if (name == owned.name)
      throw KeyError(fmt::format("{}: replagent writes {} itself; {}", key, name, owned.instead));
  }
  if (has_control(value)) {
    throw KeyError(fmt::format("{}: the value has a control character (newline, NUL, ...), which "
                               "a postgresql.conf setting cannot hold",
                               key));
  }
  for (const auto& m : standby_minimum_parameters()) {
    if (name != m.name) continue;
    std::int64_t n = -1;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || p != value.data() + value.size() || n < 0 || n > 2147483647) {
      throw KeyError(fmt::format(
          "{}: expected a plain integer (no unit) such as 200, not '{}': a replica's init "
          "compares it with its primary's value, which a hot standby needs at least",
          key, value));
    }
  }
  return name;
}

// A TOML scalar as postgresql.conf text: strings as they are, integers and floats in decimal,
// booleans as on/off.
std::string parameter_text(const std::string& key, const toml::node& v) {
  if (const auto s = v.value_exact<std::string>()) return *s;
  if (const auto i = v.value_exact<std::int64_t>()) return std::to_string(*i);
  if (const auto b = v.value_exact<bool>()) return *b ? "on" : "off";
  if (const auto d = v.value_exact<double>()) {
    if (!std::isfinite(*d))
      throw KeyError(fmt::format("postgres.parameters.{}: expected a finite number", key));
    return fmt::format("{}", *d);
  }
  throw KeyError(fmt::format(
      "postgres.parameters.{}: expected a string, integer, float or boolean (a list or table is "
      "no PostgreSQL setting; a list parameter is one string: \"pg_stat_statements,auto_explain\")",
      key));
}

void set_parameters(Config& c, const toml::node& node) {
  const auto* table = node.as_table();
  if (!table) {
    throw KeyError(
        "postgres.parameters: expected a table of PostgreSQL parameters, name = value (in a file "
        "[postgres.parameters]; in the environment or --set postgres.parameters a TOML inline "
        "table such as { work_mem = \"64MB\", max_connections = 200 }, or --set "
        "postgres.parameters.NAME=VALUE for one)");
  }
  std::map<std::string, std::string> out;
  for (auto&& [k, v] : *table) {
    const std::string given(k.str());
    try {
      const std::string value = parameter_text(given, v);
      const std::string name = check_parameter(given, value);
      if (!out.emplace(name, value).second) {
        throw KeyError(fmt::format("postgres.parameters.{}: {} is set twice (parameter names are "
                                   "case-insensitive)",
                                   given, name));
      }
    } catch (const KeyError& e) {
      throw KeyError(e.what(), v.source().begin.line);
    }
  }
  c.postgres.parameters = std::move(out);
}

void set_hba_extra(Config& c, const toml::node& node) {
  const auto* array = node.as_array();
  std::vector<std::string> out;
  if (array) {
    for (auto&& item : *array) {
      const auto s = item.value_exact<std::string>();
      if (!s) {
        array = nullptr;
        break;
      }
      // The rest of the checks need the roles (hba_record_problem, after loading).
      if (has_control(*s, /*allow_tab=*/true)) {
        throw KeyError(fmt::format("postgres.hba_extra entry {}: has a line break or another "
                                   "control character; each entry is one pg_hba.conf record",
                                   out.size() + 1),
                       item.source().begin.line);
      }
      out.push_back(*s);
    }
  }
  if (!array) {
    throw KeyError(
        "postgres.hba_extra: expected a list of strings, one pg_hba.conf record each (in the "
        "environment or --set a TOML array such as [\"hostssl all all 10.0.0.0/8 cert\"])");
  }
  c.postgres.hba_extra = std::move(out);
}

std::string text(const std::string& v) { return v; }

int to_int(const std::string& v, int lo, int hi) {
  int out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size() || out < lo || out > hi)
    bad(fmt::format("an integer from {} to {}", lo, hi));
  return out;
}

bool to_bool(const std::string& v) {
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  bad("true or false");
}

// Durations are bounded at load: a poll interval times the stale count, or now() plus a
// timeout, must never overflow the clock's int64 milliseconds later.
constexpr std::chrono::milliseconds kMaxDuration = std::chrono::hours(7 * 24);

std::chrono::milliseconds to_duration(const std::string& v,
                                      std::chrono::milliseconds max = kMaxDuration) {
  auto d = parse_duration(v);
  if (!d) bad("a duration such as 200ms, 10s, 5m or 1h");
  if (*d > max) bad("a duration of at most " + format_duration(max));
  return *d;
}

std::string role_name(const std::string& v) {
  if (!is_valid_role_name(v))
    bad("a role name of lower-case letters, digits and _, starting with a letter or _, at most "
        "63 characters (it is written into pg_hba.conf and SQL)");
  return v;
}

// Empty: no application role.
std::string role_name_or_empty(const std::string& v) { return v.empty() ? v : role_name(v); }

// The application database's name: the role names' pattern, so it is safe everywhere it is
// written (SQL, psql's argv, pg_hba); empty: none.
std::string database_name_or_empty(const std::string& v) {
  if (!v.empty() && !is_valid_role_name(v))
    bad("a database name of lower-case letters, digits and _, starting with a letter or _, at "
        "most 63 characters (the same rule as role names), or empty for none");
  return v;
}

std::string safe_path(const std::string& v) {
  if (auto why = unsafe_path_reason(v); !why.empty()) bad("a path without " + why);
  return v;
}

std::string dns_label(const std::string& v) {
  if (!is_dns1123_label(v))
    bad("a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter "
        "or digit, at most 63 characters");
  return v;
}

// Empty: derived (pod.service from the pod name).
std::string dns_label_or_empty(const std::string& v) { return v.empty() ? v : dns_label(v); }

std::string dns_subdomain(const std::string& v) {
  if (!is_dns1123_subdomain(v))
    bad("a DNS-1123 subdomain such as cluster.local: DNS-1123 labels joined by '.', at most 253 "
        "characters");
  return v;
}

// "10.0.0.0/8", "::/0": an address and a prefix length that fits it.
bool is_cidr(const std::string& v) {
  const auto slash = v.find('/');
  if (slash == std::string::npos) return false;
  const std::string addr = v.substr(0, slash);
  const std::string bits = v.substr(slash + 1);
  unsigned char buf[16];
  int max_bits = 0;
  if (::inet_pton(AF_INET, addr.c_str(), buf) == 1) max_bits = 32;
  else if (::inet_pton(AF_INET6, addr.c_str(), buf) == 1) max_bits = 128;
  else return false;
  int n = -1;
  auto [p, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), n);
  return ec == std::errc() && p == bits.data() + bits.size() && !bits.empty() && n >= 0 &&
         n <= max_bits;
}

std::uint64_t to_size(const std::string& v) {
  auto s = parse_size(v);
  if (!s) bad("a size such as 16MB, 512kB or 1GiB");
  return *s;
}

std::string one_of(const std::string& v, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed)
    if (v == a) return v;
  std::string list;
  for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  bad("one of " + list);
}

std::vector<std::string> to_list(const std::string& v) {
  std::vector<std::string> out;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

Rendered str_node(const std::string& v) { return Rendered(v); }

#define REPLAGENT_STR_KEY(NAME, FIELD) \
  Key{NAME, [](Config& c, const std::string& v) { c.FIELD = text(v); }, \
      [](const Config& c) { return str_node(c.FIELD); }}
#define REPLAGENT_DURATION_KEY(NAME, FIELD) \
  Key{NAME, [](Config& c, const std::string& v) { c.FIELD = to_duration(v); }, \
      [](const Config& c) { return str_node(format_duration(c.FIELD)); }}
// A string key whose value is checked by CHECK (a function that returns it or calls bad()).
#define REPLAGENT_CHECKED_KEY(NAME, FIELD, CHECK) \
  Key{NAME, [](Config& c, const std::string& v) { c.FIELD = CHECK(v); }, \
      [](const Config& c) { return str_node(c.FIELD); }}
#define REPLAGENT_SECRET_KEY(NAME, FIELD) \
  Key{NAME, [](Config& c, const std::string& v) { c.FIELD = Secret(v); }, nullptr, true}

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
      REPLAGENT_CHECKED_KEY("postgres.app_database", postgres.app_database,
                            database_name_or_empty),
      REPLAGENT_CHECKED_KEY("postgres.tls_cert_file", postgres.tls_cert_file, safe_path),
      REPLAGENT_CHECKED_KEY("postgres.tls_key_file", postgres.tls_key_file, safe_path),
      REPLAGENT_CHECKED_KEY("postgres.tls_ca_file", postgres.tls_ca_file, safe_path),
      Key{"postgres.allowed_networks",
          [](Config& c, const std::string& v) {
            auto list = to_list(v);
            if (list.empty()) bad("at least one network in CIDR notation, e.g. 10.0.0.0/8");
            for (const auto& n : list)
              if (!is_cidr(n)) bad("networks in CIDR notation such as 10.0.0.0/8 or ::/0, not '" + n + "'");
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
            with_toml_value(v, "a TOML array of strings such as [\"hostssl all all 10.0.0.0/8 cert\"]",
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
            c.init.on_foreign_data = one_of(v, {"refuse", "reclone"});
          },
          [](const Config& c) { return str_node(c.init.on_foreign_data); }},
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
      Key{"sidecar.max_lag", [](Config& c, const std::string& v) { c.sidecar.max_lag = to_size(v); },
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
      REPLAGENT_CHECKED_KEY("sidecar.kubernetes_token_file", sidecar.kubernetes_token_file, safe_path),
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
      REPLAGENT_STR_KEY("backup.source", backup.source),
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
          [](Config& c, const std::string& v) { c.log.format = one_of(v, {"text", "json"}); },
          [](const Config& c) { return str_node(c.log.format); }},
      Key{"log.level",
          [](Config& c, const std::string& v) {
            c.log.level = one_of(v, {"trace", "debug", "info", "warn", "error"});
          },
          [](const Config& c) { return str_node(c.log.level); }},
  };
  return kKeys;
}

#undef REPLAGENT_STR_KEY
#undef REPLAGENT_DURATION_KEY
#undef REPLAGENT_CHECKED_KEY
#undef REPLAGENT_SECRET_KEY

// What the reference (docs/configuration.md, `replagent config --reference`) says of each key:
// the kind of value it takes, what it means, and, where the default is not built in but
// derived, where it comes from. Beside keys() and checked against it both ways
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
      {"dns.servers", "list of `ip` or `ip:port`",
       "The DNS servers the agent asks (c-ares)", "(empty: those of `/etc/resolv.conf`)"},
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
      {"sidecar.kubernetes_ca_file", "path", "The CA the API server's certificate is checked against"},
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

void apply(Config& c, const Key& key, const std::string& value, const std::string& origin) {
  try {
    // No setting holds a control character, and a NUL would cut the value short wherever it
    // reaches a C string (inet_pton once accepted "::1\0 ...", a pg_hba line after it).
    for (char ch : value) {
      const auto u = static_cast<unsigned char>(ch);
      if (!key.secret && (u < 0x20 || u == 0x7f))
        bad("a value without control characters (NUL, newline, ...)");
    }
    key.set(c, value);
  } catch (const KeyError& e) {
    throw usage_error(fmt::format("{}: {}", origin, e.what()));
  } catch (const std::invalid_argument& e) {
    // The value as printable text: a control character in it must not end or forge a log line.
    std::string shown;
    for (char ch : value) {
      const auto u = static_cast<unsigned char>(ch);
      shown += (u < 0x20 || u == 0x7f) ? fmt::format("\\x{:02x}", u) : std::string(1, ch);
    }
    throw usage_error(fmt::format("{}: invalid value '{}' for {}: expected {}", origin,
                                  key.secret ? "[redacted]" : shown, key.name, e.what()));
  }
}

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

// Where a user finds every key; the binary carries it, so it works inside a container too.
constexpr const char* kReferenceHint =
    "every key: `replagent config --reference` or docs/configuration.md";

std::vector<std::string> sections() {
  std::vector<std::string> out;
  for (const auto& k : keys()) {
    auto s = k.name.substr(0, k.name.find('.'));
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  return out;
}

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

// A ConfigMap mounted as a volume is a directory of one file per key; toml++ reads a
// directory as an empty file, so every setting in it would be ignored without a word.
void refuse_directory(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw usage_error(fmt::format("{} {} is a directory, not a TOML file: point it at the file "
                                  "inside (a ConfigMap volume holds one file per key), e.g. "
                                  "{}/replagent.toml",
                                  what, path, path));
  }
}

// `text`: the file's contents when the caller has them already (ConfigInputs::file_text).
void apply_file(Config& c, const std::string& path, const std::string* text = nullptr) {
  toml::table root;
  try {
    root = text ? toml::parse(*text, path) : toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    throw usage_error(fmt::format("config file {}:{}:{}: {}", path, src.begin.line,
                                  src.begin.column, e.description()));
  }
  for (auto&& [section, section_node] : root) {
    const std::string section_name(section.str());
    const auto* table = section_node.as_table();
    if (!table) {
      throw usage_error(fmt::format("config file {}: '{}' is not inside a [section]{}", path,
                                    section_name, unknown_key_hint(section_name)));
    }
    for (auto&& [key, value] : *table) {
      const std::string name = section_name + "." + std::string(key.str());
      const auto line = value.source().begin.line;
      const std::string where = fmt::format("config file {}:{}", path, line);
      const Key* k = find_key(name);
      if (!k) {
        throw usage_error(
            fmt::format("{}: unknown key '{}'{}", where, name, unknown_key_hint(name)));
      }
      if (k->secret) {
        throw usage_error(fmt::format(
            "{}: '{}' must not be written in a config file; use {}_file (a mounted Secret) or "
            "the environment variable {}",
            where, name, name, env_name(name)));
      }
      if (k->set_node) {
        try {
          k->set_node(c, value);
        } catch (const KeyError& e) {
          throw usage_error(fmt::format("config file {}:{}: {}", path, e.line ? e.line : line,
                                        e.what()));
        }
        continue;
      }
      std::string text_value;
      if (auto s = value.value<std::string>(); s && value.is_string()) {
        text_value = *s;
      } else if (value.is_integer()) {
        text_value = std::to_string(*value.value<int64_t>());
      } else if (value.is_boolean()) {
        text_value = *value.value<bool>() ? "true" : "false";
      } else if (const auto* arr = value.as_array()) {
        for (auto&& item : *arr) {
          auto s2 = item.value<std::string>();
          if (!item.is_string() || !s2)
            throw usage_error(fmt::format("{}: {} must be a list of strings", where, name));
          text_value += (text_value.empty() ? "" : ",") + *s2;
        }
      } else {
        throw usage_error(fmt::format("{}: {} has an unsupported type (use a string, integer, "
                                      "boolean or list of strings)", where, name));
      }
      apply(c, *k, text_value, where);
    }
  }
}

// Cross-key checks of the names and paths the agent writes into pg_hba, SQL, shell command
// lines (pg_ctl runs `sh -c`) and postgresql.conf.
void check_names(const Config& c, const ConfigInputs& in) {
  if (!c.pod.name.empty() && !is_dns1123_label(c.pod.name)) {
    throw usage_error(fmt::format(
        "pod.name '{}' (from POD_NAME, HOSTNAME, the config or the hostname) is not a DNS-1123 "
        "label: lower-case letters, digits and '-', at most 63 characters; set POD_NAME to the "
        "pod's name (<set>-<ordinal>)",
        c.pod.name));
  }
  if (!is_dns1123_label(c.pod.namespace_)) {
    throw usage_error(fmt::format("pod.namespace '{}' (from POD_NAMESPACE or the config) is not a "
                                  "DNS-1123 label: lower-case letters, digits and '-', at most 63 "
                                  "characters",
                                  c.pod.namespace_));
  }
  const std::pair<const char*, const std::string*> roles[] = {
      {"postgres.superuser", &c.postgres.superuser},
      {"postgres.replication_user", &c.postgres.replication_user},
      {"postgres.monitor_user", &c.postgres.monitor_user},
      {"postgres.backup_user", &c.postgres.backup_user},
      {"postgres.app_user", &c.postgres.app_user}};
  for (std::size_t i = 0; i < std::size(roles); ++i) {
    for (std::size_t j = i + 1; j < std::size(roles); ++j) {
      if (*roles[i].second == *roles[j].second && !roles[i].second->empty()) {
        throw usage_error(fmt::format("{} and {} are both '{}': each needs a role of its own "
                                      "(they hold different privileges)",
                                      roles[i].first, roles[j].first, *roles[i].second));
      }
    }
  }
  for (std::size_t i = 0; i < c.postgres.hba_extra.size(); ++i) {
    if (auto why = hba_record_problem(c.postgres.hba_extra[i], c); !why.empty()) {
      throw usage_error(fmt::format("postgres.hba_extra entry {} '{}': {}", i + 1,
                                    c.postgres.hba_extra[i], why));
    }
  }
  // PGDATA from the environment did not pass a key's check; TMPDIR names the directories the
  // agent's temporary servers and work files live in.
  if (auto why = unsafe_path_reason(c.postgres.data_dir); !why.empty())
    throw usage_error(fmt::format("postgres.data_dir (or PGDATA) '{}' contains {}: choose a "
                                  "path without it",
                                  c.postgres.data_dir, why));
  if (auto it = in.env.find("TMPDIR"); it != in.env.end()) {
    if (auto why = unsafe_path_reason(it->second); !why.empty())
      throw usage_error(fmt::format("environment variable TMPDIR '{}' contains {}: choose a "
                                    "path without it",
                                    it->second, why));
  }
}

}  // namespace

Secret read_secret_file(const std::string& path, const std::string& key) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    // A Secret mounted as a volume is a directory of one file per key.
    throw usage_error(fmt::format("{} '{}' is a directory, not a file: point {} at the key's "
                                  "file inside it (a Secret volume holds one file per key), e.g. "
                                  "{}/password",
                                  key, path, key, path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw usage_error(fmt::format("cannot read {} '{}': {} (mount the Secret there or fix the path)",
                                  key, path, std::strerror(errno)));
  }
  std::string value((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Secrets created with `echo` end in a newline that is not part of the password.
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  if (value.empty()) throw usage_error(fmt::format("{} '{}' is empty", key, path));
  return Secret(std::move(value));
}

bool is_valid_role_name(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  if (!(std::islower(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
  for (char ch : name) {
    const auto u = static_cast<unsigned char>(ch);
    if (!(std::islower(u) || std::isdigit(u) || ch == '_') || u >= 0x80) return false;
  }
  return true;
}

std::string unsafe_path_reason(const std::string& path) {
  for (char ch : path) {
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u == 0x7f) return "a control character";
    switch (ch) {
      case '"': return "a double quote (\")";
      case '\'': return "a single quote (')";
      case '\\': return "a backslash (\\)";
      case '$': return "a dollar sign ($)";
      case '`': return "a backquote (`)";
      default: break;
    }
  }
  return "";
}

bool is_dns1123_label(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  auto alnum = [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'); };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  return std::all_of(name.begin(), name.end(), [&](char ch) { return alnum(ch) || ch == '-'; });
}

bool is_dns1123_subdomain(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    const auto dot = name.find('.', start);
    if (!is_dns1123_label(name.substr(start, dot - start))) return false;
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

bool is_label_key(const std::string& key) {
  const auto slash = key.find('/');
  const std::string name = slash == std::string::npos ? key : key.substr(slash + 1);
  if (slash != std::string::npos && !is_dns1123_subdomain(key.substr(0, slash))) return false;
  if (name.empty() || name.size() > 63) return false;
  auto alnum = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) != 0; };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char ch) { return alnum(ch) || ch == '-' || ch == '_' || ch == '.'; });
}

const std::vector<OwnedParameter>& owned_parameters() {
  static const std::vector<OwnedParameter> kOwned = {
      // render_include (replagent.conf):
      {"listen_addresses", "use postgres.listen_addresses"},
      {"port", "use postgres.port"},
      {"cluster_name", "it is the pod's name (pod.name), which names the pod's peers"},
      {"wal_level", "streaming replication needs replagent's value (replica)"},
      {"max_wal_senders",
       "use postgres.max_wal_senders (the chart derives it from maxReplicas)"},
      {"max_replication_slots",
       "use postgres.max_replication_slots (the chart derives it from maxReplicas)"},
      {"hot_standby", "replicas serve reads through -ro with replagent's value (on)"},
      {"wal_receiver_status_interval", "replica lag in seconds relies on replagent's value (1s)"},
      {"hot_standby_feedback", "replagent's value (on) keeps replicas' queries from cancellation"},
      {"wal_log_hints", "replagent's value (on) keeps pg_rewind possible"},
      {"max_slot_wal_keep_size", "use postgres.max_slot_wal_keep_size"},
      {"max_wal_size", "use postgres.max_wal_size"},
      {"ssl", "use postgres.tls_cert_file, tls_key_file and tls_ca_file (TLS is on with them)"},
      {"ssl_cert_file", "use postgres.tls_cert_file"},
      {"ssl_key_file", "use postgres.tls_key_file"},
      {"ssl_ca_file", "use postgres.tls_ca_file"},
      // with_standby_settings (a replica's postgresql.auto.conf):
      {"primary_conninfo", "a replica's init writes it from pod.* and postgres.replication_user"},
      {"primary_slot_name", "a replica's init writes it (one slot per pod)"},
      // Files replagent manages in the data directory, and the directory itself.
      {"hba_file", "replagent manages the data directory's pg_hba.conf: add lines with "
                   "postgres.hba_extra"},
      {"ident_file", "replagent manages the data directory's pg_ident.conf"},
      {"data_directory", "use postgres.data_dir (PGDATA)"},
      {"config_file", "the server reads the data directory's postgresql.conf"},
      // Directives of the configuration file's grammar, not parameters.
      {"include", "it is a configuration-file directive, not a parameter"},
      {"include_if_exists", "it is a configuration-file directive, not a parameter"},
      {"include_dir", "it is a configuration-file directive, not a parameter"},
  };
  return kOwned;
}

const std::vector<StandbyMinimum>& standby_minimum_parameters() {
  // PostgreSQL 15, CheckRequiredParameterValues (xlogrecovery.c) and pg_controldata's labels.
  static const std::vector<StandbyMinimum> kMinimums = {
      {"max_connections", "max_connections setting:"},
      {"max_worker_processes", "max_worker_processes setting:"},
      {"max_wal_senders", "max_wal_senders setting:"},
      {"max_prepared_transactions", "max_prepared_xacts setting:"},
      {"max_locks_per_transaction", "max_locks_per_xact setting:"},
  };
  return kMinimums;
}

bool is_parameter_name(const std::string& name) {
  // guc-file.l: ID {LETTER}{LETTER_OR_DIGIT}*, QUALIFIED_ID {ID}"."{ID}; ASCII only here.
  if (name.empty() || name.size() > 127) return false;
  bool start = true;
  int dots = 0;
  for (char ch : name) {
    if (ch == '.') {
      if (start || ++dots > 1) return false;
      start = true;
      continue;
    }
    const bool letter = (ch >= 'a' && ch <= 'z') || ch == '_';
    const bool digit = ch >= '0' && ch <= '9';
    if (!(letter || (digit && !start))) return false;
    start = false;
  }
  return !start;
}

namespace {

struct HbaToken {
  std::string text;
  bool quoted = false;
};

// A pg_hba.conf line as hba.c reads it: fields separated by blanks, a field a comma-separated
// list of tokens, "..." quoting, '#' outside quotes starting a comment. Empty with *why set
// when it cannot be split.
std::vector<std::vector<HbaToken>> hba_fields(const std::string& line, std::string* why) {
  std::vector<std::vector<HbaToken>> fields;
  std::vector<HbaToken> field;
  HbaToken token;
  bool in_token = false, in_quote = false, after_comma = false;
  auto end_token = [&] {
    if (in_token) field.push_back(token);
    token = HbaToken{};
    in_token = false;
  };
  for (char ch : line) {
    if (in_quote) {
      if (ch == '"') in_quote = false;
      else token.text += ch;
      continue;
    }
    if (ch == '#') break;
    if (ch == '"') {
      in_quote = in_token = token.quoted = true;
    } else if (ch == ',') {
      end_token();
      after_comma = true;
    } else if (ch == ' ' || ch == '\t') {
      if (in_token && !after_comma) {
        end_token();
        fields.push_back(std::move(field));
        field.clear();
      }
    } else {
      in_token = true;
      after_comma = false;
      token.text += ch;
    }
  }
  if (in_quote) {
    *why = "a double quote is not closed";
    return {};
  }
  end_token();
  if (!field.empty()) fields.push_back(std::move(field));
  return fields;
}

bool is_bare(const std::vector<HbaToken>& field, const char* word) {
  return field.size() == 1 && !field[0].quoted && field[0].text == word;
}

}  // namespace

std::string hba_record_problem(const std::string& line, const Config& c) {
  if (has_control(line, /*allow_tab=*/true))
    return "a line break or control character: each entry is one pg_hba.conf record";
  const auto last = line.find_last_not_of(" \t");
  if (last != std::string::npos && line[last] == '\\')
    return "ends in a backslash, which would continue the record onto replagent's next line";
  std::string why;
  const auto fields = hba_fields(line, &why);
  if (!why.empty()) return why;
  if (fields.empty()) return "no record (blank or a comment only)";
  const auto& type = fields[0];
  for (const char* directive : {"include", "include_if_exists", "include_dir"}) {
    if (is_bare(type, directive))
      return "an include directive; write the records themselves, one entry each";
  }
  const bool local = is_bare(type, "local");
  bool host = false;
  for (const char* t : {"host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc"})
    host = host || is_bare(type, t);
  if (!local && !host) {
    return "the connection type must be local, host, hostssl, hostnossl, hostgssenc or "
           "hostnogssenc";
  }
  for (const auto& field : fields) {
    for (const auto& t : field) {
      if (t.text.size() > 255) return "a token longer than PostgreSQL's 255 bytes";
      if (!t.quoted && !t.text.empty() && t.text[0] == '@')
        return "'" + t.text + "' would read names from a file; list them in the entry";
    }
  }
  // Method position: local DATABASE USER METHOD; host DATABASE USER ADDRESS [MASK] METHOD.
  std::size_t method_at = 3;
  if (host) {
    if (fields.size() < 4) return "a host record needs a database, a user, an address and a method";
    method_at = 4;
    unsigned char buf[16];
    const auto& address = fields[3];
    if (address.size() == 1 && !address[0].quoted &&
        (::inet_pton(AF_INET, address[0].text.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, address[0].text.c_str(), buf) == 1))
      method_at = 5;  // an address without /prefix: a netmask follows
  }
  if (fields.size() <= method_at) {
    return local ? "a local record needs a database, a user and a method"
                 : "a host record needs a database, a user, an address (and a netmask for an "
                   "address without /prefix) and a method";
  }
  const auto& method = fields[method_at];
  bool known = false;
  for (const char* m : {"trust", "reject", "scram-sha-256", "md5", "password", "gss", "sspi",
                        "ident", "peer", "ldap", "radius", "cert", "pam", "bsd"})
    known = known || is_bare(method, m);
  if (!known) {
    return "unknown authentication method (trust, reject, scram-sha-256, md5, password, gss, "
           "sspi, ident, peer, ldap, radius, cert, pam or bsd), at field " +
           std::to_string(method_at + 1);
  }
  for (const auto& t : fields[1]) {
    if (!t.quoted && t.text == "replication") {
      return "replication connections are the replication role's only (postgres."
             "replication_user; replagent's lines before this one reject every other role)";
    }
  }
  const std::pair<const char*, const std::string*> roles[] = {
      {"postgres.superuser", &c.postgres.superuser},
      {"postgres.replication_user", &c.postgres.replication_user},
      {"postgres.monitor_user", &c.postgres.monitor_user},
      {"postgres.backup_user", &c.postgres.backup_user}};
  bool all_users = false;
  for (const auto& t : fields[2]) {
    all_users = all_users || (!t.quoted && t.text == "all");
    for (const auto& [key, role] : roles) {
      if (t.text == *role) {
        return fmt::format("names replagent's role {} ({}), whose pg_hba lines replagent writes "
                           "itself",
                           *role, key);
      }
    }
  }
  if (all_users && is_bare(method, "trust")) {
    return "trust for all users would admit replagent's monitoring and backup roles without a "
           "password; name the roles it is for";
  }
  return "";
}

bool is_secret_variable(const std::string& name) {
  if (name == "POSTGRES_PASSWORD") return true;
  if (name.rfind("REPLAGENT_", 0) == 0 && name.find("PASSWORD") != std::string::npos &&
      name.size() > 5 && name.compare(name.size() - 5, 5, "_FILE") != 0)
    return true;
  if (name == "REPLAGENT_SIDECAR_STATUS_TOKEN") return true;
  return name.rfind("PG", 0) == 0 && name.find("PASS") != std::string::npos &&
         name != "PGPASSFILE";
}

void scrub_secret_environment() {
  std::vector<std::string> names;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos && is_secret_variable(entry.substr(0, eq)))
      names.push_back(entry.substr(0, eq));
  }
  for (const auto& n : names) ::unsetenv(n.c_str());
}

Config load_config(const ConfigInputs& in, std::vector<std::string>* warnings) {
  Config c;
  const auto env = [&](const std::string& name) -> std::optional<std::string> {
    auto it = in.env.find(name);
    if (it == in.env.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };

  // 1. Defaults that come from the pod's conventions (lowest precedence after built-ins).
  c.pod.name = in.hostname;
  if (auto v = env("HOSTNAME")) c.pod.name = *v;

  // 2. The TOML file.
  if (in.file_text) {
    apply_file(c, in.file.value_or("(text)"), &*in.file_text);
  } else if (in.file) {
    if (!std::filesystem::exists(*in.file))
      throw usage_error(fmt::format("--config {}: no such file", *in.file));
    refuse_directory(*in.file, "--config");
    apply_file(c, *in.file);
  } else if (std::filesystem::exists(in.default_file)) {
    refuse_directory(in.default_file, "the default config file");
    apply_file(c, in.default_file);
  }

  // 3. The environment: Kubernetes/PostgreSQL conventions, then REPLAGENT_* (more specific).
  if (auto v = env("POD_NAME")) c.pod.name = *v;
  if (auto v = env("POD_NAMESPACE")) c.pod.namespace_ = *v;
  if (auto v = env("PGDATA")) c.postgres.data_dir = *v;
  if (auto v = env("POSTGRES_PASSWORD")) c.postgres.superuser_password = Secret(*v);
  for (const auto& [name, value] : in.env) {
    if (name.rfind("REPLAGENT_", 0) != 0) continue;
    const Key* match = nullptr;
    for (const auto& k : keys())
      if (env_name(k.name) == name) match = &k;
    if (match) {
      apply(c, *match, value, "environment variable " + name);
      continue;
    }
    // REPLAGENT_<SECTION>_<TYPO> is a warning, not an error: the kubelet injects
    // <SERVICE>_SERVICE_HOST and <SERVICE>_PORT_* for every Service in the namespace, and a
    // release named replagent-postgres has Services whose variables read like ours
    // (REPLAGENT_POSTGRES_RW_PORT). Other REPLAGENT_* names are not ours to judge.
    for (const auto& s : sections()) {
      std::string prefix = env_name(s) + "_";
      if (name.rfind(prefix, 0) == 0) {
        if (warnings) {
          const Key& near = closest_key(name);
          warnings->push_back(fmt::format(
              "environment variable {} is not a setting and is ignored (the closest is {}, "
              "{}); a Service's link variable looks like this: set enableServiceLinks: false "
              "on the pod ({})",
              name, env_name(near.name), near.name, kReferenceHint));
        }
        break;
      }
    }
  }

  // 4. Flags.
  for (const auto& [name, value] : in.flags) {
    constexpr std::string_view kParameter = "postgres.parameters.";
    if (name.rfind(kParameter, 0) == 0) {
      // One parameter, as a string (PostgreSQL reads every setting from text).
      const std::string given = name.substr(kParameter.size());
      try {
        c.postgres.parameters[check_parameter(given, value)] = value;
      } catch (const KeyError& e) {
        throw usage_error(fmt::format("flag --set {}: {}", name, e.what()));
      }
      continue;
    }
    const Key* k = find_key(name);
    if (!k) throw usage_error(fmt::format("--set {}: unknown key{}", name, unknown_key_hint(name)));
    if (k->secret) {
      // argv is readable by every user of the pod (/proc/<pid>/cmdline).
      throw usage_error(fmt::format(
          "--set {}: a secret must not be given on the command line (every process in the pod "
          "can read it); use {}_file (a mounted Secret) or the environment variable {}",
          name, name, env_name(name)));
    }
    apply(c, *k, value, "flag --set " + name);
  }

  // Derived defaults and cross-key checks.
  if (!c.postgres.superuser_password_file.empty())
    c.postgres.superuser_password =
        read_secret_file(c.postgres.superuser_password_file, "postgres.superuser_password_file");
  if (!c.postgres.replication_password_file.empty())
    c.postgres.replication_password = read_secret_file(c.postgres.replication_password_file,
                                                       "postgres.replication_password_file");
  if (!c.postgres.monitor_password_file.empty())
    c.postgres.monitor_password =
        read_secret_file(c.postgres.monitor_password_file, "postgres.monitor_password_file");
  if (!c.postgres.backup_password_file.empty())
    c.postgres.backup_password =
        read_secret_file(c.postgres.backup_password_file, "postgres.backup_password_file");
  if (!c.postgres.app_password_file.empty())
    c.postgres.app_password =
        read_secret_file(c.postgres.app_password_file, "postgres.app_password_file");
  if (!c.sidecar.status_token_file.empty())
    c.sidecar.status_token =
        read_secret_file(c.sidecar.status_token_file, "sidecar.status_token_file");
  check_names(c, in);
  {
    // All three TLS files or none: a server with a certificate but no CA would let replicas
    // stream without verifying it (agent/tls.hpp checks the files themselves).
    const std::pair<const char*, const std::string*> tls[] = {
        {"postgres.tls_cert_file", &c.postgres.tls_cert_file},
        {"postgres.tls_key_file", &c.postgres.tls_key_file},
        {"postgres.tls_ca_file", &c.postgres.tls_ca_file}};
    const bool any = std::any_of(std::begin(tls), std::end(tls),
                                 [](const auto& t) { return !t.second->empty(); });
    for (const auto& [key, value] : tls) {
      if (any && value->empty())
        throw usage_error(fmt::format("{} is not set: TLS needs postgres.tls_cert_file, "
                                      "postgres.tls_key_file and postgres.tls_ca_file together "
                                      "(or none of them, for no TLS)",
                                      key));
    }
  }
  if (c.pod.service.empty()) {
    if (auto id = parse_pod_name(c.pod.name)) c.pod.service = id->set;
  }
  if (!c.sidecar.role_label.empty()) {
    // In-cluster configuration as client-go's: the kubelet sets both in every container.
    auto from_env = [&in](const char* name) -> std::string {
      const auto it = in.env.find(name);
      return it == in.env.end() ? "" : it->second;
    };
    if (c.sidecar.kubernetes_host.empty()) {
      c.sidecar.kubernetes_host = from_env("KUBERNETES_SERVICE_HOST");
      if (const std::string port = from_env("KUBERNETES_SERVICE_PORT"); !port.empty()) {
        try {
          c.sidecar.kubernetes_port = static_cast<std::uint16_t>(to_int(port, 1, 65535));
        } catch (const std::exception&) {
          throw usage_error(fmt::format("KUBERNETES_SERVICE_PORT '{}' is not a port (1-65535)", port));
        }
      }
    }
    if (c.sidecar.kubernetes_host.empty())
      throw usage_error(fmt::format(
          "sidecar.role_label ({}) needs the Kubernetes API, and KUBERNETES_SERVICE_HOST is not "
          "set (not in a pod?): set sidecar.kubernetes_host, or sidecar.role_label empty",
          c.sidecar.role_label));
  }
  if (c.init.backoff_initial.count() <= 0 || c.init.backoff_initial > c.init.backoff_max) {
    throw usage_error(fmt::format("init.backoff_initial ({}) must be above 0 and at most "
                                  "init.backoff_max ({})",
                                  format_duration(c.init.backoff_initial),
                                  format_duration(c.init.backoff_max)));
  }
  if (c.dns.timeout.count() <= 0) throw usage_error("dns.timeout must be above 0");
  if (c.sidecar.poll_interval.count() <= 0) throw usage_error("sidecar.poll_interval must be above 0");
  return c;
}

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

std::vector<std::string> config_keys() {
  std::vector<std::string> out;
  for (const auto& k : keys()) out.push_back(k.name);
  return out;
}

std::vector<KeyReference> key_reference() {
  const Config defaults;
  std::vector<KeyReference> out;
  for (const auto& k : keys()) {
    const auto doc = std::find_if(key_docs().begin(), key_docs().end(),
                                  [&](const KeyDoc& d) { return k.name == d.name; });
    if (doc == key_docs().end())
      throw std::logic_error("key " + k.name + " has no entry in key_docs() (agent/config.cpp): "
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
      throw std::logic_error(std::string("key_docs() (agent/config.cpp) describes ") + d.name +
                             ", which is no key: remove or rename the entry");
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

std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq != std::string::npos) out[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return out;
}

Secret read_password_file(const std::string& path, const std::string& key) {
  return read_secret_file(path, key);
}

}  // namespace replagent::agent
