#include "roles/init.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <vector>

#include "agent/fs.hpp"
#include "agent/tls.hpp"
#include "agent/topology.hpp"
#include "roles/init_record.hpp"
#include "roles/init_steps.hpp"

namespace replagent::roles {

const char* to_string(InitAction action) {
  switch (action) {
    case InitAction::kNone:
      return "";
    case InitAction::kInitdb:
      return "initdb";
    case InitAction::kClone:
      return "clone";
    case InitAction::kReclone:
      return "reclone";
    case InitAction::kKept:
      return "kept";
    case InitAction::kRefreshed:
      return "refreshed";
  }
  return "";
}

const char* to_string(InitReason reason) {
  switch (reason) {
    case InitReason::kNone:
      return "";
    case InitReason::kSlotMissing:
      return "slot_missing";
    case InitReason::kSlotWalRemoved:
      return "slot_wal_removed";
    case InitReason::kForeignData:
      return "foreign_data";
  }
  return "";
}

namespace detail {

InitOutcome outcome(agent::ExitCode code, std::string message) {
  return InitOutcome{code, std::move(message), {}, {}};
}

std::string failure_line(const agent::ProcessResult& result) {
  std::vector<std::string> lines;
  std::istringstream in(result.output_tail);
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) lines.push_back(line);
  }
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    if (it->find("error:") != std::string::npos || it->find("FATAL:") != std::string::npos ||
        it->find("could not") != std::string::npos)
      return *it;
  }
  return lines.empty() ? std::string() : lines.back();
}

}  // namespace detail

InitOutcome run_init(const agent::Config& config, InitDeps deps) {
  if (config.postgres.data_dir.empty()) {
    throw agent::usage_error(
        "postgres.data_dir is not set: set PGDATA (a subdirectory of the volume mount) or "
        "REPLAGENT_POSTGRES_DATA_DIR");
  }
  const agent::Topology topo = agent::topology_of(config);
  spdlog::info("init: pod {} (ordinal {}) is the {}; primary {}:{}; PGDATA {}", config.pod.name,
               topo.self.ordinal, topo.is_primary() ? "primary" : "replica", topo.primary_host,
               config.postgres.port, config.postgres.data_dir);
  // The TLS files before anything is touched: a server given a key it cannot load, or a
  // certificate replicas cannot verify, would fail later with the reason in its own log only.
  agent::check_tls_files(config, std::chrono::system_clock::now());
  if (config.postgres.tls())
    spdlog::info("TLS: {} checked (key matches, valid now, SANs cover {}, issued by {})",
                 config.postgres.tls_cert_file, agent::tls_required_names(config).front(),
                 config.postgres.tls_ca_file);
  // Before anything is created or removed beside PGDATA.
  check_pgdata_placement(config.postgres.data_dir);
  remove_leftovers(config.postgres.data_dir);
  const DataDirState local = inspect_data_dir(config.postgres.data_dir);
  spdlog::info("data directory {}: {}", config.postgres.data_dir, to_string(local.kind));
  return topo.is_primary() ? detail::run_primary(config, deps, topo, local)
                           : detail::run_replica(config, deps, topo, local);
}

namespace {

// Kubernetes shows this file's content as the container's termination message. The default
// path is written only when it exists (it does in a pod); a configured path is created.
void write_termination_log(const agent::Config& config, const InitOutcome& out) {
  const std::string& path = config.init.termination_log;
  if (path.empty()) return;
  const bool is_default = path == agent::Config{}.init.termination_log;
  if (is_default && !std::filesystem::exists(path)) return;
  agent::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) {
    spdlog::warn("cannot write the termination message to {}: {}", path, std::strerror(errno));
    return;
  }
  const std::string line = fmt::format("{} (exit {})\n", out.message, static_cast<int>(out.code));
  try {
    agent::write_all(fd.get(), line.data(), line.size(), path);
  } catch (const std::exception& e) {
    spdlog::warn("{}", e.what());
  }
}

}  // namespace

void report_init_outcome(const agent::Config& config, const InitOutcome& out) {
  if (out.code == agent::ExitCode::kOk) {
    if (out.action == InitAction::kReclone) {
      spdlog::warn("init done, replica data re-cloned ({}): {}", to_string(out.reason),
                   out.message);
    } else {
      spdlog::info("init done: {}", out.message);
    }
    save_init_record(config.postgres.data_dir, out,
                     std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count());
  } else {
    spdlog::error("init failed (exit {}): {}", static_cast<int>(out.code), out.message);
  }
  write_termination_log(config, out);
}

}  // namespace replagent::roles
