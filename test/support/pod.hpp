// One "pod" of StatefulSet todo-db as local processes: its volume directory, PGDATA inside it,
// its loopback address, its unix socket directory, and the replagent init / postgres it runs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "test/support/process.hpp"

namespace replagent::test {

class DnsServer;

inline constexpr const char* kPgBinDir = "/usr/lib/postgresql/15/bin";
inline constexpr const char* kSetName = "todo-db";

// What the whole pod set shares (the chart's Secret, Service, DNS).
struct PodSetConfig {
  std::filesystem::path scratch;
  std::string ns = "default";
  std::uint16_t port = 0;
  DnsServer* dns = nullptr;
  std::filesystem::path superuser_password_file;
  std::filesystem::path replication_password_file;
  std::filesystem::path monitor_password_file;
  std::filesystem::path backup_password_file;
  std::string superuser_password;
  std::string replication_password;
  std::string monitor_password;
  std::string backup_password;
};

using Env = std::map<std::string, std::string>;

struct InitResult {
  int exit_code = -1;  // -1: timed out and killed by the harness
  ExitStatus status;
  std::string out;
  std::string err;
  std::chrono::milliseconds elapsed{0};
  bool timed_out = false;
};

// A running `replagent init`, started in the background.
class InitRun {
 public:
  InitRun(std::unique_ptr<ChildProcess> child, std::chrono::steady_clock::time_point start);
  // A run still going when its test ends (an assertion failed) is stopped as the kubelet
  // would stop it, SIGTERM then SIGKILL, so the agent can take its own children down.
  ~InitRun();
  InitRun(const InitRun&) = delete;
  InitRun& operator=(const InitRun&) = delete;
  pid_t pid() const { return child_->pid(); }
  ChildProcess& process() { return *child_; }
  // Waits up to `timeout`; on timeout kills the group and reports timed_out.
  InitResult wait(std::chrono::milliseconds timeout);

 private:
  std::unique_ptr<ChildProcess> child_;
  std::chrono::steady_clock::time_point start_;
};

class Pod {
 public:
  Pod(const PodSetConfig& set, int ordinal, std::string ip);
  ~Pod();
  Pod(const Pod&) = delete;
  Pod& operator=(const Pod&) = delete;

  int ordinal() const { return ordinal_; }
  std::string name() const;      // todo-db-N
  std::string dns_name() const;  // todo-db-N.todo-db.<ns>.svc.cluster.local
  const std::string& ip() const { return ip_; }
  std::uint16_t port() const { return set_.port; }
  const std::filesystem::path& volume() const { return volume_; }
  const std::filesystem::path& pgdata() const { return pgdata_; }
  const std::filesystem::path& socket_dir() const { return socket_dir_; }
  std::filesystem::path termination_log() const;
  std::filesystem::path postgres_log() const;

  // The environment of the init container, as the chart sets it.
  Env init_env() const;
  InitResult run_init(const Env& extra_env = {},
                      std::chrono::milliseconds timeout = std::chrono::seconds(60));
  std::unique_ptr<InitRun> start_init(const Env& extra_env = {});

  // The DNS record of a headless Service with publishNotReadyAddresses.
  void publish_dns();
  void unpublish_dns();

  // initdb by hand (for the harness self-test and a "foreign cluster" volume).
  void initdb_by_hand();
  // Starts the postmaster (own process group) and waits until it accepts connections.
  void start_postgres(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  void stop_postgres();  // SIGINT (fast shutdown), waits
  void kill_postgres();  // SIGKILL to the postmaster's whole group, like a node dying
  bool postgres_running();

  // psql as the superuser over the unix socket; throws with stderr on failure.
  std::string psql(const std::string& sql);
  RunResult psql_result(const std::string& sql, const std::string& conninfo = "",
                        const Env& extra_env = {});
  // Runs a PostgreSQL tool from kPgBinDir with the superuser password in the environment.
  RunResult pg_tool(const std::string& tool, const std::vector<std::string>& args,
                    const Env& extra_env = {},
                    std::chrono::milliseconds timeout = std::chrono::seconds(60));
  bool has_pg_version() const;

  // Log tails for a failure report.
  std::string failure_report() const;

 private:
  std::filesystem::path log_path(const std::string& what) const;

  PodSetConfig set_;
  int ordinal_;
  std::string ip_;
  std::filesystem::path volume_;
  std::filesystem::path pgdata_;
  std::filesystem::path socket_dir_;
  std::unique_ptr<ChildProcess> postgres_;
  std::vector<std::filesystem::path> init_logs_;  // stderr of each init run
  int tool_runs_ = 0;
};

}  // namespace replagent::test
