// The checks of names, paths, PostgreSQL parameters and pg_hba records that load_config and
// its tests share (declared in agent/config.hpp).
#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <utility>
#include <vector>

#include "agent/config.hpp"
#include "agent/config_values.hpp"

namespace replagent::agent {

using config_detail::has_control;

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
      case '"':
        return "a double quote (\")";
      case '\'':
        return "a single quote (')";
      case '\\':
        return "a backslash (\\)";
      case '$':
        return "a dollar sign ($)";
      case '`':
        return "a backquote (`)";
      default:
        break;
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
      {"max_wal_senders", "use postgres.max_wal_senders (the chart derives it from maxReplicas)"},
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
      {"hba_file",
       "replagent manages the data directory's pg_hba.conf: add lines with "
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
      if (ch == '"')
        in_quote = false;
      else
        token.text += ch;
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
        return fmt::format(
            "names replagent's role {} ({}), whose pg_hba lines replagent writes "
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

}  // namespace replagent::agent
