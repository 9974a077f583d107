// The environment the chart gives a pod's containers (init, postgres, sidecar), for a pod on
// loopback. ONE definition, shared by the integration harness (Pod::init_env) and the local
// StatefulSet (replagent-sts): the two used to keep a copy each, and the copies drifted.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace replagent::test {

// What differs between pods and between pod sets; the rest is the chart's.
struct PodEnvSpec {
  std::string name;  // todo-db-N
  std::string ns;
  std::filesystem::path pgdata;
  std::string dns_server;  // "ip:port", the cluster DNS
  std::string port;        // PostgreSQL's, the same on every pod
  std::string ip;          // the pod's address: host and listen address
  std::filesystem::path termination_log;
  // The Secret's keys, mounted as files.
  std::filesystem::path superuser_password_file;
  std::filesystem::path replication_password_file;
  std::filesystem::path monitor_password_file;
  std::filesystem::path backup_password_file;
};

// Ordered as `replagent-sts env N` prints it.
using EnvList = std::vector<std::pair<std::string, std::string>>;

// The chart's environment for the pod. Callers add only what is theirs (a test's shorter
// timeouts, the local set's sidecar listener) on top, named where they do it.
EnvList chart_pod_env(const PodEnvSpec& pod);

}  // namespace replagent::test
