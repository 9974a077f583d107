#include "roles/pg_files.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/errors.hpp"
#include "agent/fs.hpp"

namespace replagent::roles {
namespace {

constexpr const char* kHbaBegin =
    "# BEGIN replagent (managed by replagent init; rewritten on every start)";
constexpr const char* kHbaEnd = "# END replagent";
// The pg_ident.conf map the hba block's local lines name.
constexpr const char* kIdentMap = "replagent";
constexpr const char* kIncludeLine = "include_if_exists = 'replagent.conf'  # added by replagent";

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw agent::AgentError(agent::ExitCode::kFailed,
                            fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool is_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

// A name pg_ident.conf takes unquoted (and a Unix user name may be).
bool is_ident_user(const std::string& name) {
  if (name.empty() || name.size() > 63 || name[0] == '-') return false;
  for (char ch : name) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
    if (!ok) return false;
  }
  return true;
}

std::string with_trailing_newline(std::string text) {
  if (!text.empty() && text.back() != '\n') text += '\n';
  return text;
}

// postgres.parameters, after replagent's own lines. load_config checked the names (none of
// replagent's, owned_parameters()) and refused control characters; every value is written as
// a quoted string, which PostgreSQL reads for a parameter of any type.
std::string render_parameters(const agent::Config& config) {
  if (config.postgres.parameters.empty()) return "";
  std::string out =
      "# postgres.parameters (on a replica, those a hot standby needs at least at its primary's\n"
      "# value are raised to it: standby_minimum_parameters).\n";
  for (const auto& [name, value] : config.postgres.parameters)
    out += fmt::format("{} = {}\n", name, conf_quote(value, "postgres.parameters." + name));
  return out;
}

// TLS with the mounted files (agent/tls.hpp checked them before init writes this). The CA
// also makes the server ask clients for a certificate, which none has to present.
std::string render_tls(const agent::Config& config) {
  const auto& p = config.postgres;
  if (!p.tls()) return "";
  return fmt::format(
      "# TLS (postgres.tls_*_file): replicas verify this certificate (sslmode=verify-full);\n"
      "# the sidecar reloads the server when the files change.\n"
      "ssl = on\n"
      "ssl_cert_file = {}\n"
      "ssl_key_file = {}\n"
      "ssl_ca_file = {}\n",
      conf_quote(p.tls_cert_file, "ssl_cert_file (postgres.tls_cert_file)"),
      conf_quote(p.tls_key_file, "ssl_key_file (postgres.tls_key_file)"),
      conf_quote(p.tls_ca_file, "ssl_ca_file (postgres.tls_ca_file)"));
}

}  // namespace

std::string render_include(const agent::Config& config) {
  return fmt::format(
             "# Managed by replagent init and rewritten on every pod start: do not edit.\n"
             "# Override with ALTER SYSTEM (postgresql.auto.conf wins over this file).\n"
             "listen_addresses = {}\n"
             "port = {}\n"
             "# The pod's name: in process titles, and how a primary's init names its peers.\n"
             "cluster_name = {}\n"
             "wal_level = replica\n"
             "max_wal_senders = {}\n"
             "max_replication_slots = {}\n"
             "hot_standby = on\n"
             "# Replicas report replay positions often enough for lag in seconds to be "
             "meaningful.\n"
             "wal_receiver_status_interval = 1s\n"
             "hot_standby_feedback = on\n"
             "# pg_rewind needs hint bits WAL-logged (checksums already imply it; explicit for "
             "clarity).\n"
             "wal_log_hints = on\n"
             "# WAL a replication slot may hold back (a replica gone for long is re-cloned by "
             "init).\n"
             "max_slot_wal_keep_size = {}\n"
             "{}",
             conf_quote(config.postgres.listen_addresses,
                        "listen_addresses (postgres.listen_addresses)"),
             config.postgres.port, conf_quote(config.pod.name, "cluster_name (pod.name)"),
             config.postgres.max_wal_senders, config.postgres.max_replication_slots,
             config.postgres.max_slot_wal_keep_size
                 ? conf_quote(
                       std::to_string(*config.postgres.max_slot_wal_keep_size / (1024 * 1024)) +
                           "MB",
                       "max_slot_wal_keep_size")
                 : std::string("-1"),
             config.postgres.max_wal_size
                 ? "# WAL kept between checkpoints (postgres.max_wal_size; the volume holds this "
                   "plus the\n"
                   "# slots' max_slot_wal_keep_size plus the data).\nmax_wal_size = " +
                       conf_quote(
                           std::to_string(*config.postgres.max_wal_size / (1024 * 1024)) + "MB",
                           "max_wal_size") +
                       "\n"
                 : std::string()) +
         render_tls(config) + render_parameters(config);
}

std::string with_include_directive(const std::string& postgresql_conf) {
  if (postgresql_conf.find(kIncludeLine) != std::string::npos) return postgresql_conf;
  return with_trailing_newline(postgresql_conf) + kIncludeLine + "\n";
}

std::string render_hba_block(const agent::Config& c) {
  const auto& p = c.postgres;
  auto line = [](const char* type, const std::string& db, const std::string& user,
                 const std::string& address, const std::string& method) {
    return fmt::format("{:<7} {:<15} {:<15} {:<23} {}\n", type, db, user, address, method);
  };
  // Role names are ^[a-z_][a-z0-9_]{0,62}$ (config), so quoting is all they need.
  const std::string superuser = "\"" + p.superuser + "\"";
  const std::string replicator = "\"" + p.replication_user + "\"";
  std::string out = std::string(kHbaBegin) + "\n";
  out +=
      "# First match wins, and this block comes first: the lines after it apply only to\n"
      "# connections no line here matched.\n";
  out +=
      "# Local (unix socket): the OS user that runs the server may also log in as the\n"
      "# monitoring, superuser and replication roles (pg_ident.conf's replagent map), so the\n"
      "# sidecar and the probe reach the server without a password.\n";
  const std::string monitor = "\"" + p.monitor_user + "\"";
  for (const auto* role : {&monitor, &superuser})
    out += line("local", "all", *role, "", "peer map=" + std::string(kIdentMap));
  for (const auto* role : {&superuser, &replicator})
    out += line("local", "replication", *role, "", "peer map=" + std::string(kIdentMap));
  if (p.superuser_network_login) {
    out += "# The superuser over TCP (postgres.superuser_network_login = true).\n";
    for (const auto& net : p.allowed_networks)
      out += line("host", "all", superuser, net, "scram-sha-256");
  } else {
    out +=
        "# The superuser logs in over the local socket only (postgres.superuser_network_login).\n";
  }
  out += line("host", "all", superuser, "all", "reject");
  // With TLS on, replication is hostssl: a replica never streams in clear, even one whose
  // conninfo lost its sslmode (the line below then rejects it). Other clients may still
  // choose (host lines).
  out += p.tls() ? "# Replication: the replication role only, over TLS only, from\n"
                   "# postgres.allowed_networks.\n"
                 : "# Replication: the replication role only, from postgres.allowed_networks.\n";
  for (const auto& net : p.allowed_networks)
    out += line(p.tls() ? "hostssl" : "host", "replication", replicator, net, "scram-sha-256");
  out += line("host", "replication", "all", "all", "reject");
  out += "# The replication role streams and does nothing else.\n";
  out += line("host", "all", replicator, "all", "reject");
  if (!p.hba_extra.empty()) {
    // After the lines above, so no extra line changes how replagent's roles or replication
    // log in; before the catch-all lines below, so each one decides for what it matches.
    // load_config checked each is one record that names none of replagent's roles
    // (agent::hba_record_problem).
    out += "# postgres.hba_extra: after replagent's lines for its roles, before its catch-all.\n";
    for (const auto& extra : p.hba_extra) {
      const auto end = extra.find_last_not_of(" \t");
      out += extra.substr(0, end == std::string::npos ? 0 : end + 1) + "\n";
    }
  }
  out += "# Local (unix socket) otherwise: the OS user is the database user.\n";
  out += line("local", "all", "all", "", "peer");
  out += line("local", "replication", "all", "", "peer");
  out += "# Every other role logs in with a password from postgres.allowed_networks.\n";
  for (const auto& net : p.allowed_networks)
    out += line("host", "all", "all", net, "scram-sha-256");
  return out + kHbaEnd + "\n";
}

// `text` with `block` put first and any earlier copy of our block (BEGIN..END) removed;
// foreign lines are kept after it, in their order.
std::string with_block_first(const std::string& text, const std::string& block) {
  std::string kept;
  std::istringstream in(text);
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line == kHbaBegin) inside = true;
    if (!inside) kept += line + "\n";
    if (line == kHbaEnd) inside = false;
  }
  return block + kept;
}

std::string with_hba_block(const std::string& pg_hba, const agent::Config& config) {
  return with_block_first(pg_hba, render_hba_block(config));
}

std::string render_ident_block(const agent::Config& c, const std::string& os_user) {
  std::string out = std::string(kHbaBegin) + "\n";
  out +=
      "# The OS user that runs the server, init, the sidecar and the probe (one uid in a pod)\n"
      "# may log in over the local socket as these roles (pg_hba.conf's local lines).\n";
  if (!is_ident_user(os_user)) {
    out += "# (none: the server's OS user has no name in /etc/passwd)\n";
  } else {
    for (const auto& role :
         {c.postgres.monitor_user, c.postgres.superuser, c.postgres.replication_user})
      out += fmt::format("{:<15} {:<15} {}\n", kIdentMap, os_user, role);
  }
  return out + kHbaEnd + "\n";
}

std::string with_ident_block(const std::string& pg_ident, const agent::Config& config,
                             const std::string& os_user) {
  return with_block_first(pg_ident, render_ident_block(config, os_user));
}

std::string os_user_name(uid_t uid, const std::string& passwd_path) {
  // /etc/passwd itself, not getpwuid: the static binary has no NSS modules. In a container
  // (and for the postgres user of a Debian host) the file is where the name lives.
  std::ifstream in(passwd_path);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string name, password, id;
    if (std::getline(fields, name, ':') && std::getline(fields, password, ':') &&
        std::getline(fields, id, ':') && id == std::to_string(uid))
      return name;
  }
  return "";
}

std::string conf_quote(std::string_view value, std::string_view what) {
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (is_control(value[i])) {
      throw agent::usage_error(fmt::format(
          "cannot write {} into a PostgreSQL configuration file: the value has a control "
          "character (byte 0x{:02x} at offset {}), which a setting cannot hold; remove it",
          what, static_cast<unsigned char>(value[i]), i));
    }
  }
  std::string out = "'";
  for (char c : value) {
    // Both doubled: what ALTER SYSTEM writes into postgresql.auto.conf
    // (escape_single_quotes_ascii), so the lines we write there look like its own.
    if (c == '\'' || c == '\\') out += c;
    out += c;
  }
  return out + "'";
}

void write_primary_files(const std::string& data_dir, const agent::Config& config) {
  namespace fs = std::filesystem;
  const fs::path dir(data_dir);
  agent::write_file_atomic((dir / kIncludeFile).string(), render_include(config), 0600);
  const auto conf = (dir / "postgresql.conf").string();
  agent::write_file_atomic(conf, with_include_directive(read_text(conf)), 0600);
  const auto hba = (dir / "pg_hba.conf").string();
  agent::write_file_atomic(hba, with_hba_block(read_text(hba), config), 0600);
  const auto ident = (dir / "pg_ident.conf").string();
  agent::write_file_atomic(ident,
                           with_ident_block(fs::exists(ident) ? read_text(ident) : std::string(),
                                            config, os_user_name(::geteuid())),
                           0600);
}

void write_replica_files(const std::string& data_dir, const agent::Config& config,
                         const PrimaryConnInfo& primary, const std::string& slot) {
  namespace fs = std::filesystem;
  const fs::path dir(data_dir);
  write_primary_files(data_dir, config);
  // The passfile lives in the data directory (0600, like postgresql.auto.conf); the conninfo
  // names its final path, which may differ from data_dir while we write into staging.
  agent::write_file_atomic(
      (dir / kPassFile).string(),
      passfile_line(config.postgres.replication_user, config.postgres.replication_password), 0600);
  const auto auto_conf = (dir / "postgresql.auto.conf").string();
  std::string current;
  if (fs::exists(auto_conf)) current = read_text(auto_conf);
  agent::write_file_atomic(
      auto_conf, with_standby_settings(current, render_primary_conninfo(primary), slot), 0600);
  const auto signal = (dir / "standby.signal").string();
  if (!fs::exists(signal)) agent::write_file_atomic(signal, "", 0600);
}

}  // namespace replagent::roles
