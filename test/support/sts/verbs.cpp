#include "test/support/sts/verbs.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "test/support/pod.hpp"
#include "test/support/sts/lifecycle.hpp"
#include "test/support/sts/proc.hpp"

namespace replagent::test::sts {
namespace fs = std::filesystem;

namespace {

int replicas(const Set& set) {
  const std::string r = read_trimmed(set.file("replicas"));
  return is_ordinal(r) ? std::stoi(r) : 0;
}

std::string failure(const Set& set, int n) {
  return "pod " + Set::pod_name(n) + " failed (" + phase(set, n) +
         "): " + read_trimmed(set.termination_log(n));
}

// The volumes vol-N in the order a shell glob lists them.
std::vector<std::pair<int, fs::path>> volumes(const Set& set) {
  std::vector<fs::path> paths;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(set.dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("vol-", 0) == 0 && e.is_directory() && is_ordinal(name.substr(4)))
      paths.push_back(e.path());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::pair<int, fs::path>> out;
  for (const auto& p : paths) out.emplace_back(std::stoi(p.filename().string().substr(4)), p);
  return out;
}

// `jq FILTER` over `input`: its stdout.
std::pair<int, std::string> jq(const std::vector<std::string>& args, const std::string& input) {
  std::vector<std::string> argv = {"jq"};
  argv.insert(argv.end(), args.begin(), args.end());
  Spawn s(argv);
  s.input = input;
  return capture(s);
}

// The status columns, as the sidecar's /status has them (jq: null-safe, same formatting).
constexpr const char* kJsonRow =
    R"jq({pod: $pod, phase: $phase, role: (.role // null), ready: $ready,
  lag_bytes: (.lag_bytes.replay // null), lag_seconds: (.replay_delay_seconds // null),
  volume_mb: $vol, last_init: (.last_init.action // null), last_init_reason: (.last_init.reason // null),
  replicas: ([.replicas[]? | {name: .application_name, state: .state, lag_bytes: .lag_bytes.replay}])})jq";
constexpr const char* kTableRow = R"jq([(.role // "-"), ((.lag_bytes.replay // "-") | tostring),
  ((.replay_delay_seconds // "-") | if type == "number" then (. * 1000 | round / 1000) else . end | tostring),
  ((.last_init.action // "-") + (if .last_init.reason then " (" + .last_init.reason + ")" else "" end))] | @tsv)jq";

void table_line(const std::string& pod, const std::string& phase, const std::string& role,
                const std::string& ready, const std::string& lag_b, const std::string& lag_s,
                const std::string& volume, const std::string& last) {
  std::printf("%-10s %-14s %-8s %-6s %12s %10s %8s  %s\n", pod.c_str(), phase.c_str(), role.c_str(),
              ready.c_str(), lag_b.c_str(), lag_s.c_str(), volume.c_str(), last.c_str());
}

void need_ordinal(const Args& args, std::size_t count, const std::string& message) {
  if (args.size() < count || !is_ordinal(args[0])) usage(message);
}

}  // namespace

int scale(const Set& set, const Args& args) {
  if (args.size() != 1 || !is_ordinal(args[0])) usage("scale needs a replica count, e.g. scale 3");
  const int want = std::stoi(args[0]);
  ensure_secrets(set);
  dns_up(set);
  std::ofstream(set.file("replicas"), std::ios::trunc) << want << "\n";
  // Reverse order down: the highest ordinal first.
  for (int n : existing_pods(set)) {
    if (n >= want) pod_delete(set, n, false, 30);
  }
  // Ordered up: each pod Running and Ready before the next one is created.
  for (int n = 0; n < want; ++n) {
    if (pod_exists(set, n) && phase(set, n) == "Running") continue;
    if (pod_exists(set, n)) pod_delete(set, n, false, 30);
    if (!pod_create(set, n)) die(failure(set, n) + "; scale stopped (OrderedReady)");
    if (!pod_wait_ready(set, n))
      die("pod " + Set::pod_name(n) + " did not become Ready; scale stopped (OrderedReady)");
  }
  return 0;
}

int delete_pod(const Set& set, const Args& args) {
  need_ordinal(args, 1, "delete-pod needs an ordinal, e.g. delete-pod 0");
  const int n = std::stoi(args[0]);
  bool force = false, wait_ready = true, delete_volume = false;
  int grace = 30;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--force") {
      force = true;
    } else if (args[i] == "--grace") {
      if (i + 1 >= args.size() || args[i + 1].empty() ||
          args[i + 1].find_first_not_of("0123456789") != std::string::npos)
        usage("--grace needs seconds");
      grace = std::stoi(args[++i]);
    } else if (args[i] == "--no-wait") {
      wait_ready = false;
    } else if (args[i] == "--delete-volume") {
      delete_volume = true;
    } else {
      usage("delete-pod: unknown option " + args[i]);
    }
  }
  if (!pod_exists(set, n)) {
    die("pod " + Set::pod_name(n) + " does not exist (replicas: " + std::to_string(replicas(set)) +
        ")");
  }
  pod_delete(set, n, force, grace);
  if (delete_volume) {
    // kubectl delete pvc + pod: the recreated pod gets a new, empty volume.
    sts::empty_volume(set, n);
    log("deleted the volume of " + Set::pod_name(n) + "; the new pod gets an empty one");
  }
  // The StatefulSet controller recreates the pod at once: same name, same volume.
  if (n >= replicas(set)) return 0;
  dns_up(set);
  if (!pod_create(set, n)) die(failure(set, n));
  if (wait_ready && !pod_wait_ready(set, n))
    die("pod " + Set::pod_name(n) + " did not become Ready");
  return 0;
}

int status(const Set& set, const Args& args) {
  const bool json = !args.empty() && args[0] == "--json";
  if (!json)
    table_line("POD", "PHASE", "ROLE", "READY", "LAG_BYTES", "LAG_SECONDS", "VOLUME", "LAST_INIT");
  for (const auto& [n, vdir] : volumes(set)) {
    std::string st = sidecar_get(set, n, "/status").second;
    if (st.empty() || jq({"-e", "."}, st).first != 0) st = "{}";
    const bool exists = pod_exists(set, n);
    const std::string ready =
        exists && sidecar_get(set, n, "/readyz").first == 200 ? "true" : "false";
    std::string use = capture(Spawn({"du", "-sm", vdir.string()})).second;
    use = use.substr(0, use.find('\t'));
    if (use.empty() || use.find_first_not_of("0123456789") != std::string::npos) use = "0";
    const std::string ph = exists ? phase(set, n) : "Deleted";
    std::fflush(stdout);
    if (json) {
      std::fputs(jq({"-c", "--arg", "pod", Set::pod_name(n), "--arg", "phase", ph, "--argjson",
                     "ready", ready, "--argjson", "vol", use, kJsonRow},
                    st)
                     .second.c_str(),
                 stdout);
      continue;
    }
    std::string row = jq({"-r", kTableRow}, st).second;
    while (!row.empty() && row.back() == '\n') row.pop_back();
    std::vector<std::string> cols;
    std::istringstream in(row);
    for (std::string col; cols.size() < 3 && std::getline(in, col, '\t');) cols.push_back(col);
    std::string last;
    std::getline(in, last);
    cols.resize(3);
    table_line(Set::pod_name(n), ph, cols[0], ready, cols[1], cols[2], use + "M", last);
  }
  return 0;
}

int pg_client(const Set& set, const std::string& tool, const Args& args) {
  need_ordinal(args, 1, tool + " needs an ordinal");
  const int n = std::stoi(args[0]);
  std::vector<std::string> argv = {std::string(kPgBinDir) + "/" + tool,
                                   "-h",
                                   set.sock(n).string(),
                                   "-p",
                                   set.port,
                                   "-U",
                                   "postgres"};
  if (tool == "psql") argv.emplace_back("-X");
  argv.insert(argv.end(), args.begin() + 1, args.end());
  std::cout << std::flush;
  exec(argv, {{"PGPASSWORD", read_trimmed(set.secret("superuser-password"))},
              {"PGDATABASE", "postgres"}});
}

int logs(const Set& set, const Args& args) {
  need_ordinal(args, 1, "logs needs an ordinal");
  std::vector<std::string> whats = {"init", "postgres", "sidecar"};
  if (args.size() > 1) {
    whats.clear();
    std::istringstream in(args[1]);
    for (std::string w; in >> w;) whats.push_back(w);
  }
  for (const auto& what : whats) {
    const fs::path f = set.log(std::stoi(args[0]), what);
    std::cout << "==> " << f.string() << " <==" << std::endl;
    const std::string tail = tail_lines(f, 40);
    if (!tail.empty()) std::cout << tail << "\n";
  }
  return 0;
}

int env(const Set& set, const Args& args) {
  if (args.size() != 1 || !is_ordinal(args[0])) usage("env needs an ordinal");
  for (const auto& [k, v] : pod_env(set, std::stoi(args[0]))) std::cout << k << "=" << v << "\n";
  std::cout << "REPLAGENT_BIN=" << set.bin << "\n";
  return 0;
}

int set_env(const Set& set, const Args& args) {
  if (args.size() != 2 || !is_ordinal(args[0]) || args[1].find('=') == std::string::npos)
    usage("set-env needs an ordinal and KEY=VALUE");
  const int n = std::stoi(args[0]);
  const std::string key = args[1].substr(0, args[1].find('='));
  std::string kept;
  std::ifstream in(set.pod_file(n, ".env"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + "=", 0) != 0) kept += line + "\n";
  }
  if (args[1].size() > key.size() + 1) kept += args[1] + "\n";
  const fs::path tmp = set.pod_file(n, ".env.tmp");
  std::ofstream(tmp, std::ios::trunc) << kept;
  fs::rename(tmp, set.pod_file(n, ".env"));
  return 0;
}

int empty_volume(const Set& set, const Args& args) {
  if (args.size() != 1 || !is_ordinal(args[0])) usage("empty-volume needs an ordinal");
  const int n = std::stoi(args[0]);
  if (pod_exists(set, n)) die("pod " + Set::pod_name(n) + " exists: delete it first (scale down)");
  if (!fs::is_directory(set.vol(n))) die(set.vol(n).string() + ": no such volume");
  sts::empty_volume(set, n);
  log("emptied the volume of " + Set::pod_name(n));
  return 0;
}

int down(const Set& set, const Args&) {
  for (int n : existing_pods(set)) pod_stop(set, n, false, 10);
  // Pods that lost their phase file but still run (a failed command half-way).
  std::vector<int> leftover;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(set.dir, ec)) {
    const std::string name = e.path().filename().string();
    const auto dot = name.find('.');
    if (name.rfind("pod-", 0) == 0 && name.ends_with(".sidecar.pid") &&
        is_ordinal(name.substr(4, dot - 4)))
      leftover.push_back(std::stoi(name.substr(4, dot - 4)));
  }
  for (int n : leftover) pod_stop(set, n, false, 10);
  for (const auto& [n, vdir] : volumes(set)) {
    if (postmaster_pid(set, n)) pod_stop(set, n, false, 10);
  }
  dns_down(set);
  for (int n : existing_pods(set)) fs::remove(set.pod_file(n, ".phase"));
  return 0;
}

}  // namespace replagent::test::sts
