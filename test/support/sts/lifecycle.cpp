#include "test/support/sts/lifecycle.hpp"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>

#include "test/support/pod.hpp"
#include "test/support/scratch.hpp"
#include "test/support/sidecar.hpp"
#include "test/support/sts/proc.hpp"

namespace replagent::test::sts {
namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

constexpr const char* kSecretKeys[] = {"superuser-password", "replication-password",
                                       "monitor-password", "backup-password"};

void sleep_ms(int ms) { std::this_thread::sleep_for(milliseconds(ms)); }

void set_phase(const Set& set, int n, const std::string& phase) {
  std::ofstream(set.pod_file(n, ".phase"), std::ios::trunc) << phase << "\n";
}

std::string postgres_bin(const std::string& tool) { return std::string(kPgBinDir) + "/" + tool; }

bool pg_isready(const Set& set, int n) {
  return run(Spawn(
             {postgres_bin("pg_isready"), "-q", "-h", set.sock(n).string(), "-p", set.port})) == 0;
}

// Milliseconds since `start`.
long long since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

void dns_up(const Set& set) {
  fs::create_directories(set.file("hosts"));
  fs::create_directories(set.file("logs"));
  if (pid_of(set.file("dnsmasq.pid"), "dnsmasq")) return;
  const fs::path log = set.file("logs") / "dnsmasq.log";
  Spawn dnsmasq({"/usr/sbin/dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
                 "--bind-interfaces", "--listen-address=" + set.dns_ip(), "--port=" + set.dns_port,
                 "--hostsdir=" + set.file("hosts").string(), "--local=/cluster.local/",
                 "--conf-file=/dev/null", "--log-facility=" + log.string()});
  dnsmasq.log = log;
  dnsmasq.detached = true;
  const pid_t pid = spawn(dnsmasq);
  write_pid_file(set.file("dnsmasq.pid"), pid);
  sleep_ms(200);
  if (!pid_of(set.file("dnsmasq.pid"), "dnsmasq")) {
    die("dnsmasq did not start on " + set.dns_ip() + ":" + set.dns_port + ": " +
        tail_lines(log, 3));
  }
}

void dns_down(const Set& set) {
  if (auto pid = pid_of(set.file("dnsmasq.pid"), "dnsmasq")) {
    ::kill(*pid, SIGTERM);
    if (!wait_gone(*pid, 5)) ::kill(*pid, SIGKILL);
  }
  fs::remove(set.file("dnsmasq.pid"));
}

void dns_add(const Set& set, int n) {
  const std::string service = std::string(kSetName) + "." + kNamespace + ".svc.cluster.local";
  const fs::path tmp = set.file("hosts") / (".tmp-" + std::to_string(n));
  std::ofstream(tmp, std::ios::trunc)
      << set.pod_ip(n) << " " << Set::pod_name(n) << "." << service << " " << service << "\n";
  // Renamed in: dnsmasq must never read a half-written file.
  fs::rename(tmp, set.file("hosts") / Set::pod_name(n));
}

void dns_remove(const Set& set, int n) { fs::remove(set.file("hosts") / Set::pod_name(n)); }

void ensure_secrets(const Set& set) {
  fs::create_directories(set.file("secrets"));
  for (const char* key : kSecretKeys) {
    const fs::path p = set.secret(key);
    std::error_code ec;
    // Kubernetes mounts Secret keys as files without a trailing newline.
    if (fs::file_size(p, ec) == 0 || ec) write_file(p, random_token(24));
  }
}

EnvList pod_env(const Set& set, int n) {
  PodEnvSpec spec;
  spec.name = Set::pod_name(n);
  spec.ns = kNamespace;
  spec.pgdata = set.pgdata(n);
  spec.dns_server = set.dns_ip() + ":" + set.dns_port;
  spec.port = set.port;
  spec.ip = set.pod_ip(n);
  spec.termination_log = set.termination_log(n);
  spec.superuser_password_file = set.secret("superuser-password");
  spec.replication_password_file = set.secret("replication-password");
  spec.monitor_password_file = set.secret("monitor-password");
  spec.backup_password_file = set.secret("backup-password");
  EnvList env = chart_pod_env(spec);
  // Both containers get the sidecar's settings, as the chart's shared env does: its listener on
  // the pod's address, and a poll interval short enough for a demo.
  env.emplace_back("REPLAGENT_SIDECAR_LISTEN", set.pod_ip(n) + ":" + set.sidecar_port);
  env.emplace_back("REPLAGENT_SIDECAR_POLL_INTERVAL", "500ms");
  std::ifstream extra(set.pod_file(n, ".env"));
  for (std::string line; std::getline(extra, line);) {
    const auto eq = line.find('=');
    if (eq != std::string::npos && eq > 0)
      env.emplace_back(line.substr(0, eq), line.substr(eq + 1));
  }
  return env;
}

bool pod_exists(const Set& set, int n) { return fs::exists(set.pod_file(n, ".phase")); }

std::string phase(const Set& set, int n) {
  return pod_exists(set, n) ? read_trimmed(set.pod_file(n, ".phase")) : "-";
}

std::vector<int> existing_pods(const Set& set) {
  std::vector<int> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(set.dir, ec)) {
    const std::string name = e.path().filename().string();
    const std::string digits = name.size() > 10 ? name.substr(4, name.size() - 10) : "";
    if (name.rfind("pod-", 0) == 0 && name.ends_with(".phase") && !digits.empty() &&
        digits.find_first_not_of("0123456789") == std::string::npos && digits.size() < 6)
      out.push_back(std::stoi(digits));
  }
  std::sort(out.rbegin(), out.rend());
  return out;
}

std::optional<pid_t> postmaster_pid(const Set& set, int n) {
  return pid_of(set.pod_file(n, ".postgres.pid"), "bin/postgres");
}

std::pair<int, std::string> sidecar_get(const Set& set, int n, const std::string& target) {
  HttpReply r =
      http_get(set.pod_ip(n), std::stoi(set.sidecar_port), target, std::chrono::seconds(2));
  return {r.status, r.body};
}

bool pod_create(const Set& set, int n) {
  const std::string name = Set::pod_name(n);
  log("creating pod " + name + " (" + set.pod_ip(n) + ", volume " + set.vol(n).string() + ")");
  fs::create_directories(set.vol(n));
  fs::create_directories(set.sock(n));
  fs::create_directories(set.file("logs"));
  fs::permissions(set.vol(n), fs::perms::owner_all);
  set_phase(set, n, "Init");
  dns_add(set, n);
  // The init container.
  const auto started = std::chrono::steady_clock::now();
  Spawn init({set.bin, "init"});
  init.env = pod_env(set, n);
  init.log = set.log(n, "init");
  const int rc = run(init);
  log(name + " init exited " + std::to_string(rc) + " after " + std::to_string(since(started)) +
      " ms: " + read_trimmed(set.termination_log(n)));
  if (rc != 0) {
    set_phase(set, n, "Init:Error(" + std::to_string(rc) + ")");
    return false;
  }
  // The postgres container: its settings are in the configuration init wrote.
  spawn_supervised({postgres_bin("postgres"), "-D", set.pgdata(n).string(), "-k",
                    set.sock(n).string(), "-c", "shared_buffers=16MB"},
                   set.log(n, "postgres"), set.pod_file(n, ".postgres.pid"));
  for (int i = 0; i < 600; ++i) {
    if (pg_isready(set, n)) break;
    if (i > 5 && !postmaster_pid(set, n)) break;
    sleep_ms(100);
  }
  if (!pg_isready(set, n)) {
    set_phase(set, n, "Error(postgres)");
    log(name + " postgres did not start: " + tail_lines(set.log(n, "postgres"), 3));
    return false;
  }
  // The sidecar container.
  Spawn sidecar({set.bin, "sidecar"});
  sidecar.env = pod_env(set, n);
  sidecar.log = set.log(n, "sidecar");
  sidecar.detached = true;
  write_pid_file(set.pod_file(n, ".sidecar.pid"), spawn(sidecar));
  set_phase(set, n, "Running");
  return true;
}

bool pod_wait_ready(const Set& set, int n) {
  for (int i = 0; i < set.ready_timeout * 5; ++i) {
    if (sidecar_get(set, n, "/readyz").first == 200) {
      log(Set::pod_name(n) + " is Ready");
      return true;
    }
    sleep_ms(200);
  }
  log(Set::pod_name(n) + " not Ready within " + std::to_string(set.ready_timeout) +
      "s: /readyz says '" + sidecar_get(set, n, "/readyz").second + "'");
  return false;
}

void pod_stop(const Set& set, int n, bool force, int grace) {
  if (auto pid = pid_of(set.pod_file(n, ".sidecar.pid"), "replagent sidecar")) {
    ::kill(*pid, force ? SIGKILL : SIGTERM);
    if (!wait_gone(*pid, grace)) ::kill(*pid, SIGKILL);
  }
  fs::remove(set.pod_file(n, ".sidecar.pid"));
  if (auto pm = postmaster_pid(set, n)) {
    if (!force) {
      ::kill(*pm, SIGINT);  // fast shutdown
      if (!wait_gone(*pm, grace)) force = true;
    }
    if (force) {
      // The whole pod at once, as when its node dies: no backend may survive to hold the shared
      // memory a restart on this data directory checks for. The postmaster is stopped first so
      // that it forks no new backend between the listing and the kill.
      ::kill(*pm, SIGSTOP);
      const std::vector<pid_t> children = children_of(*pm);
      for (pid_t c : children) ::kill(c, SIGKILL);
      ::kill(*pm, SIGKILL);
      wait_gone(*pm, 10);
      for (pid_t c : children) wait_gone(c, 10);
    }
  }
  fs::remove(set.pod_file(n, ".postgres.pid"));
}

void pod_delete(const Set& set, int n, bool force, int grace) {
  log("deleting pod " + Set::pod_name(n) + (force ? " (force)" : ""));
  pod_stop(set, n, force, grace);
  dns_remove(set, n);
  fs::remove(set.pod_file(n, ".phase"));
}

void empty_volume(const Set& set, int n) {
  for (const auto& e : fs::directory_iterator(set.vol(n))) fs::remove_all(e.path());
}

}  // namespace replagent::test::sts
