#include "test/support/sts/set.hpp"

#include <sys/time.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <utility>

#ifndef REPLAGENT_BINARY
#error "REPLAGENT_BINARY must name the replagent executable (set by test/CMakeLists.txt)"
#endif

namespace replagent::test::sts {
namespace fs = std::filesystem;

namespace {

constexpr const char* kHelp =
    R"(replagent-sts (scripts/sts): a local StatefulSet "todo-db" on loopback, driven the way
kubectl drives a real one.

A pod N is: its volume directory (vol-N, PGDATA = vol-N/pgdata), its address 127.x.y.(10+N),
its DNS record in the headless Service (dnsmasq plays the cluster DNS, records for
todo-db-N.todo-db.<ns>.svc.cluster.local and todo-db.<ns>.svc.cluster.local), its init
container (`replagent init`), its postgres and its sidecar (`replagent sidecar`, :9187, or
--sidecar-port).

  sts scale N              OrderedReady: creates pods 0..N-1 in order, each Ready before the
                           next; deletes pods above N-1 in reverse order. Volumes are kept.
  sts delete-pod N [--force] [--grace SECONDS] [--delete-volume] [--no-wait]
                           stops pod N (fast shutdown within the grace period, default 30 s,
                           then SIGKILL; --force: SIGKILL at once, like a node dying), removes
                           its DNS record, then the controller recreates it: same name, same
                           volume, DNS record back, init re-run, postgres, sidecar, and waits
                           until it is Ready (--no-wait: not). --delete-volume: the volume is
                           emptied first (kubectl delete pvc), so the new pod starts empty.
  sts status [--json]      pod, phase, role, ready, lag bytes/seconds, volume use, last init
  sts psql N [psql args]   psql on pod N's unix socket as the superuser (also: pgbench N ...)
  sts logs N [init|postgres|sidecar]
  sts env N                the pod's environment (to run `replagent` by hand as pod N)
  sts set-env N KEY=VALUE  an extra environment variable for pod N's containers (KEY= removes)
  sts empty-volume N       deletes everything in pod N's volume (the pod must be deleted)
  sts down                 stops every pod and the DNS server; volumes are kept

Options (before the command; remembered in DIR/sts.conf by the command that creates the set:
the first `scale`, or any command given --net, --port, --dns-port, --sidecar-port or --bin):
  --dir DIR        state and volumes (default $STS_DIR or /var/tmp/replagent-sts; the demo's
                   set is in /var/tmp/replagent-demo)
  --net A.B.C      pods on A.B.C.(10+N), DNS on A.B.C.2 (default 127.0.0)
  --port P         PostgreSQL port of every pod (default 5432); DNS port --dns-port (5353)
  --sidecar-port P the sidecars' port (default 9187; e.g. 19187 where a packaged
                   prometheus-postgres-exporter holds *:9187)
  --bin PATH       the replagent binary (default: the one built beside replagent-sts)
  --ready-timeout S  how long scale/delete-pod wait for a pod to become Ready (default 120)
Exit codes: 0 done; 1 a pod failed (init error, not Ready in time), or DIR holds no set
(every command but scale refuses to create one there unasked); 2 bad usage.
)";

constexpr const char* kUsage =
    "usage: sts [--dir DIR] [--net A.B.C] [--port P] [--sidecar-port P] scale N | delete-pod N "
    "[--force] [--grace S] | status [--json] | psql N | logs N [what] | env N | set-env N K=V | "
    "empty-volume N | "
    "down";

bool is_number(const std::string& s) {
  return !s.empty() && s.size() <= 9 && s.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

void log(const std::string& what) {
  timeval tv{};
  ::gettimeofday(&tv, nullptr);
  std::tm tm{};
  ::gmtime_r(&tv.tv_sec, &tm);
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(tv.tv_usec / 1000));
  std::cerr << stamp << " sts: " << what << std::endl;
}

void die(const std::string& what) {
  std::cout << std::flush;
  std::cerr << "sts: " << what << std::endl;
  std::exit(1);
}

void usage(const std::string& what) {
  std::cerr << "sts: " << what << "\n" << kUsage << std::endl;
  std::exit(2);
}

bool is_ordinal(const std::string& s) { return is_number(s) && std::stoi(s) < 100; }

std::string read_trimmed(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

std::string tail_lines(const fs::path& p, int lines) {
  std::string s = read_trimmed(p);
  std::size_t pos = s.size();
  for (int seen = 0; pos > 0; --pos) {
    if (s[pos - 1] == '\n' && ++seen == lines) break;
  }
  return s.substr(pos);
}

Options parse_options(int argc, char** argv) {
  Options o;
  const char* env_dir = std::getenv("STS_DIR");
  o.dir = env_dir != nullptr && *env_dir != '\0' ? env_dir : "/var/tmp/replagent-sts";
  int i = 1;
  // The option's value, or a usage error naming what it needs.
  auto value = [&](const char* needs) -> std::string {
    if (i + 1 >= argc || *argv[i + 1] == '\0') usage(std::string(argv[i]) + " needs " + needs);
    i += 2;
    return argv[i - 1];
  };
  while (i < argc) {
    const std::string a = argv[i];
    if (a == "--dir") {
      o.dir = value("a directory");
    } else if (a == "--net") {
      o.net = value("A.B.C");
    } else if (a == "--port") {
      o.port = value("a port");
    } else if (a == "--dns-port") {
      o.dns_port = value("a port");
    } else if (a == "--sidecar-port") {
      o.sidecar_port = value("a port");
      if (!is_number(o.sidecar_port) || std::stoi(o.sidecar_port) < 1 ||
          std::stoi(o.sidecar_port) > 65535)
        usage("--sidecar-port needs a port (1-65535), not " + o.sidecar_port);
    } else if (a == "--bin") {
      o.bin = value("the replagent binary");
    } else if (a == "--ready-timeout") {
      const std::string s = value("seconds");
      if (!is_number(s)) usage("--ready-timeout needs seconds, not " + s);
      o.ready_timeout = std::stoi(s);
    } else if (a == "-h" || a == "--help") {
      std::cout << kHelp;
      std::exit(0);
    } else if (a.rfind("--", 0) == 0) {
      usage("unknown option " + a);
    } else {
      break;
    }
  }
  if (i >= argc) usage("no command");
  o.command = argv[i++];
  for (; i < argc; ++i) o.args.emplace_back(argv[i]);
  return o;
}

Set load_set(const Options& o) {
  Set set;
  set.dir = o.dir;
  set.ready_timeout = o.ready_timeout;
  const fs::path conf = set.file("sts.conf");
  if (!fs::exists(conf)) {
    std::ofstream(conf) << "net=" << (o.net.empty() ? set.net : o.net) << "\n"
                        << "port=" << (o.port.empty() ? set.port : o.port) << "\n"
                        << "dns_port=" << (o.dns_port.empty() ? set.dns_port : o.dns_port) << "\n"
                        << "sidecar_port="
                        << (o.sidecar_port.empty() ? set.sidecar_port : o.sidecar_port) << "\n"
                        << "bin=" << o.bin << "\n";
  }
  // key=value lines; a later line wins (a remembered bin= is appended).
  std::ifstream in(conf);
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq), val = line.substr(eq + 1);
    if (key == "net") set.net = val;
    if (key == "port") set.port = val;
    if (key == "dns_port") set.dns_port = val;
    if (key == "sidecar_port") set.sidecar_port = val;  // absent in older sets: 9187
    if (key == "bin") set.bin = val;
  }
  if (!o.net.empty()) set.net = o.net;
  if (!o.port.empty()) set.port = o.port;
  if (!o.dns_port.empty()) set.dns_port = o.dns_port;
  if (!o.sidecar_port.empty()) set.sidecar_port = o.sidecar_port;
  if (!o.bin.empty()) set.bin = o.bin;
  // sts.conf is ours, but a hand edit must fail with the key's name, not a bare "stoi".
  for (const auto& [key, val] : {std::pair{"port", set.port}, std::pair{"dns_port", set.dns_port},
                                 std::pair{"sidecar_port", set.sidecar_port}}) {
    if (!is_number(val) || std::stoi(val) < 1 || std::stoi(val) > 65535)
      die(conf.string() + ": " + key + "=" + val + " is not a port (1-65535)");
  }
  const bool starts_pods = o.command == "scale" || o.command == "delete-pod" || o.command == "env";
  if (set.bin.empty() && starts_pods) {
    set.bin = REPLAGENT_BINARY;
    std::ofstream(conf, std::ios::app) << "bin=" << set.bin << "\n";
  }
  return set;
}

}  // namespace replagent::test::sts
