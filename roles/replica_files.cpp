// The files a replica's init writes into its data directory (a kept one or a new clone):
// primary_conninfo, the settings a hot standby needs at least at its primary's values, and the
// TLS markers.
#include <charconv>
#include <filesystem>
#include <map>

#include "agent/fs.hpp"
#include "agent/tls.hpp"
#include "roles/init_steps.hpp"
#include "roles/pg_files.hpp"

namespace replagent::roles::detail {

namespace fs = std::filesystem;

bool has_marker(const std::string& data_dir, const char* name) {
  std::error_code ec;
  return fs::exists(fs::path(data_dir) / name, ec);
}

void write_tls_markers(const std::string& data_dir, TlsMarkers markers) {
  const fs::path dir(data_dir);
  std::error_code ec;
  switch (markers) {
    case TlsMarkers::kClear:
      fs::remove(dir / kTlsPendingFile, ec);
      fs::remove(dir / kTlsVerifiedFile, ec);
      return;
    case TlsMarkers::kVerified:
      mark_tls_verified(data_dir);
      return;
    case TlsMarkers::kPending:
      agent::write_file_atomic((dir / kTlsPendingFile).string(),
                               "the primary served no TLS at init: interim sslmode=prefer until "
                               "the sidecar verifies it\n",
                               0600);
      return;
    case TlsMarkers::kUnchanged:
      return;
  }
}

PrimaryConnInfo conninfo_for(const agent::Config& c, const Topology& t, const std::string& address,
                             bool tls_pending) {
  PrimaryConnInfo info;
  info.host = t.primary_host;
  info.hostaddr = c.init.pin_primary_address ? address : "";
  info.port = c.postgres.port;
  info.user = c.postgres.replication_user;
  info.passfile = (fs::path(c.postgres.data_dir) / kPassFile).string();
  info.application_name = c.pod.name;
  info.ssl_root_cert = c.postgres.tls_ca_file;
  info.tls_pending = tls_pending;
  return info;
}

namespace {

// The standby minimums recorded in `data_dir`'s control file (pg_controldata), by name; empty
// (with *result) when they cannot be read.
std::map<std::string, int> controldata_minimums(const agent::Config& c, InitDeps& deps,
                                                const std::string& data_dir,
                                                agent::ProcessResult* result) {
  agent::ProcessSpec spec;
  spec.program = "pg_controldata";
  spec.search_dir = c.postgres.bin_dir;
  spec.args = {"-D", data_dir};
  spec.timeout = std::chrono::seconds(30);
  std::map<std::string, int> primary;
  *result = deps.runner.run(spec, [&](std::string_view line) {
    for (const auto& m : agent::standby_minimum_parameters()) {
      const std::string_view label = m.controldata_label;
      if (line.substr(0, label.size()) != label) continue;
      try {
        primary[m.name] = std::stoi(std::string(line.substr(label.size())));
      } catch (const std::exception&) {
      }
    }
  });
  return primary;
}

// Raises `name` in `out` to the primary's `value` when the configuration asks for less.
void raise_to_primary(const agent::Config& c, const std::string& name, int value,
                      agent::Config& out) {
  if (name == "max_wal_senders") {
    if (value > c.postgres.max_wal_senders) {
      spdlog::info(
          "max_wal_senders = {} (the primary's, recorded in the control file) instead "
          "of postgres.max_wal_senders = {}: a hot standby refuses fewer than its "
          "primary",
          value, c.postgres.max_wal_senders);
      out.postgres.max_wal_senders = value;
    }
    return;
  }
  const auto set = c.postgres.parameters.find(name);
  if (set == c.postgres.parameters.end()) {
    spdlog::debug(
        "{} = {} (the primary's, recorded in the control file; not set in "
        "postgres.parameters)",
        name, value);
    out.postgres.parameters[name] = std::to_string(value);
    return;
  }
  // load_config made these integers (one that is not is left as configured).
  long long configured = 0;
  const auto& text = set->second;
  const auto parsed = std::from_chars(text.data(), text.data() + text.size(), configured);
  if (parsed.ec != std::errc() || parsed.ptr != text.data() + text.size()) return;
  if (value > configured) {
    spdlog::info(
        "{} = {} (the primary's, recorded in the control file) instead of "
        "postgres.parameters.{} = {}: a hot standby refuses less than its primary",
        name, value, name, configured);
    out.postgres.parameters[name] = std::to_string(value);
  }
}

}  // namespace

agent::Config with_primary_minimums(const agent::Config& c, InitDeps& deps,
                                    const std::string& data_dir) {
  agent::ProcessResult r;
  const auto primary = controldata_minimums(c, deps, data_dir, &r);
  agent::Config out = c;
  if (!r.ok() || primary.empty()) {
    spdlog::warn(
        "cannot read the primary's settings from {}'s control file (pg_controldata {}); "
        "writing the configured ones (max_wal_senders = {})",
        data_dir, r.describe(), c.postgres.max_wal_senders);
    return out;
  }
  for (const auto& [name, value] : primary) raise_to_primary(c, name, value, out);
  return out;
}

}  // namespace replagent::roles::detail
