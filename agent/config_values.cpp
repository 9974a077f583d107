// Parsing and checking one key's value (agent/config_values.hpp), and the names of the
// settings that are enums.
#include "agent/config_values.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <map>
#include <sstream>

#include "agent/units.hpp"

namespace replagent::agent {

const char* to_string(OnForeignData value) {
  switch (value) {
    case OnForeignData::kRefuse:
      return "refuse";
    case OnForeignData::kReclone:
      return "reclone";
  }
  return "refuse";
}

namespace config_detail {

[[noreturn]] void bad(const std::string& expected) { throw std::invalid_argument(expected); }

bool has_control(const std::string& v, bool allow_tab) {
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

namespace {

std::string lower(std::string v) {
  for (auto& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return v;
}

}  // namespace

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
    throw KeyError(
        fmt::format("{}: the value has a control character (newline, NUL, ...), which "
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

namespace {

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

}  // namespace

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
        throw KeyError(
            fmt::format("postgres.parameters.{}: {} is set twice (parameter names are "
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

std::chrono::milliseconds to_duration(const std::string& v, std::chrono::milliseconds max) {
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
  if (::inet_pton(AF_INET, addr.c_str(), buf) == 1)
    max_bits = 32;
  else if (::inet_pton(AF_INET6, addr.c_str(), buf) == 1)
    max_bits = 128;
  else
    return false;
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

void set_backup_source(Config& c, const std::string& v) {
  c.backup.source_host.clear();
  if (v == "replica") {
    c.backup.source = BackupSourceKind::kReplica;
  } else if (v == "primary") {
    c.backup.source = BackupSourceKind::kPrimary;
  } else {
    // Any other text names the host (not checked here: the backup says when it does not
    // resolve).
    c.backup.source = BackupSourceKind::kHost;
    c.backup.source_host = v;
  }
}

std::string backup_source_text(const Config& c) {
  switch (c.backup.source) {
    case BackupSourceKind::kReplica:
      return "replica";
    case BackupSourceKind::kPrimary:
      return "primary";
    case BackupSourceKind::kHost:
      return c.backup.source_host;
  }
  return c.backup.source_host;
}

}  // namespace config_detail
}  // namespace replagent::agent
