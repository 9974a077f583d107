// Loading the config: defaults, the TOML file, the environment and flags, in rising
// precedence (load_config), then the password files and the checks across keys.
#include <fmt/format.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "agent/config.hpp"
#include "agent/config_keys.hpp"
#include "agent/config_values.hpp"
#include "agent/errors.hpp"
#include "agent/identity.hpp"
#include "agent/units.hpp"

namespace replagent::agent {

using config_detail::bad;
using config_detail::check_parameter;
using config_detail::closest_key;
using config_detail::env_name;
using config_detail::find_key;
using config_detail::Key;
using config_detail::KeyError;
using config_detail::keys;
using config_detail::kReferenceHint;
using config_detail::sections;
using config_detail::to_int;
using config_detail::unknown_key_hint;

namespace {

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

// A ConfigMap mounted as a volume is a directory of one file per key; toml++ reads a
// directory as an empty file, so every setting in it would be ignored without a word.
void refuse_directory(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw usage_error(
        fmt::format("{} {} is a directory, not a TOML file: point it at the file "
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
          throw usage_error(
              fmt::format("config file {}:{}: {}", path, e.line ? e.line : line, e.what()));
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
        throw usage_error(
            fmt::format("{}: {} has an unsupported type (use a string, integer, "
                        "boolean or list of strings)",
                        where, name));
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
    throw usage_error(
        fmt::format("pod.namespace '{}' (from POD_NAMESPACE or the config) is not a "
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
        throw usage_error(
            fmt::format("{} and {} are both '{}': each needs a role of its own "
                        "(they hold different privileges)",
                        roles[i].first, roles[j].first, *roles[i].second));
      }
    }
  }
  for (std::size_t i = 0; i < c.postgres.hba_extra.size(); ++i) {
    if (auto why = hba_record_problem(c.postgres.hba_extra[i], c); !why.empty()) {
      throw usage_error(
          fmt::format("postgres.hba_extra entry {} '{}': {}", i + 1, c.postgres.hba_extra[i], why));
    }
  }
  // PGDATA from the environment did not pass a key's check; TMPDIR names the directories the
  // agent's temporary servers and work files live in.
  if (auto why = unsafe_path_reason(c.postgres.data_dir); !why.empty())
    throw usage_error(
        fmt::format("postgres.data_dir (or PGDATA) '{}' contains {}: choose a "
                    "path without it",
                    c.postgres.data_dir, why));
  if (auto it = in.env.find("TMPDIR"); it != in.env.end()) {
    if (auto why = unsafe_path_reason(it->second); !why.empty())
      throw usage_error(
          fmt::format("environment variable TMPDIR '{}' contains {}: choose a "
                      "path without it",
                      it->second, why));
  }
}

}  // namespace

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
        throw usage_error(
            fmt::format("{} is not set: TLS needs postgres.tls_cert_file, "
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
          throw usage_error(
              fmt::format("KUBERNETES_SERVICE_PORT '{}' is not a port (1-65535)", port));
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
    throw usage_error(
        fmt::format("init.backoff_initial ({}) must be above 0 and at most "
                    "init.backoff_max ({})",
                    format_duration(c.init.backoff_initial), format_duration(c.init.backoff_max)));
  }
  if (c.dns.timeout.count() <= 0) throw usage_error("dns.timeout must be above 0");
  if (c.sidecar.poll_interval.count() <= 0)
    throw usage_error("sidecar.poll_interval must be above 0");
  return c;
}

}  // namespace replagent::agent
