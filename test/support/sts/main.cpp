// replagent-sts: the local StatefulSet the demo, the benches and the e2e tests drive (usage:
// kHelp in set.cpp). Its pods outlive one invocation: their processes run detached and are found
// again through pid files in the set's directory.
#include <pwd.h>
#include <unistd.h>

#include <exception>
#include <filesystem>
#include <iostream>
#include <set>

#include "test/support/sts/lifecycle.hpp"
#include "test/support/sts/proc.hpp"
#include "test/support/sts/set.hpp"
#include "test/support/sts/verbs.hpp"

namespace fs = std::filesystem;
using namespace replagent::test::sts;

namespace {

const std::set<std::string> kCommands = {"scale",        "delete-pod", "status", "psql",
                                         "pgbench",      "logs",       "env",    "set-env",
                                         "empty-volume", "down"};

// A directory holds a set once it has sts.conf. Only `scale`, or a command that is told the
// set's settings, creates one: `status` in the wrong directory (the demo's set is not in the
// default one) must say so, not show an empty table and leave state behind.
void refuse_without_set(const Options& o) {
  if (fs::exists(o.dir / "sts.conf") || o.command == "scale" || o.has_settings()) return;
  die("no StatefulSet in " + o.dir.string() + " (no sts.conf there): `sts --dir DIR " + o.command +
      "` or STS_DIR=DIR names the set's directory (the demo's: /var/tmp/replagent-demo); `sts "
      "scale N` creates one");
}

// PostgreSQL refuses to run as root: as root, run as the postgres user (Debian's package).
void become_postgres(const Options& o) {
  if (::geteuid() != 0) return;
  const passwd* pw = ::getpwnam("postgres");
  if (pw == nullptr) die("running as root, but there is no postgres user to run the pods as");
  fs::create_directories(o.dir);
  if (::chown(o.dir.c_str(), pw->pw_uid, pw->pw_gid) != 0)
    die("cannot chown " + o.dir.string() + " to postgres");
  std::vector<std::string> argv = {"runuser",
                                   "-u",
                                   "postgres",
                                   "--",
                                   "env",
                                   "STS_DIR=" + o.dir.string(),
                                   fs::read_symlink("/proc/self/exe").string(),
                                   "--dir",
                                   o.dir.string()};
  auto option = [&](const char* name, const std::string& value) {
    if (value.empty()) return;
    argv.emplace_back(name);
    argv.push_back(value);
  };
  option("--net", o.net);
  option("--port", o.port);
  option("--dns-port", o.dns_port);
  option("--sidecar-port", o.sidecar_port);
  option("--bin", o.bin);
  option("--ready-timeout", std::to_string(o.ready_timeout));
  argv.push_back(o.command);
  argv.insert(argv.end(), o.args.begin(), o.args.end());
  exec(argv, {});
}

int dispatch(const Set& set, const std::string& cmd, const Args& args) {
  if (cmd == "scale") return scale(set, args);
  if (cmd == "delete-pod") return delete_pod(set, args);
  if (cmd == "status") return status(set, args);
  if (cmd == "psql" || cmd == "pgbench") return pg_client(set, cmd, args);
  if (cmd == "logs") return logs(set, args);
  if (cmd == "env") return env(set, args);
  if (cmd == "set-env") return set_env(set, args);
  if (cmd == "empty-volume") return empty_volume(set, args);
  return down(set, args);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse_options(argc, argv);
    if (!kCommands.count(o.command)) usage("unknown command " + o.command);
    refuse_without_set(o);
    become_postgres(o);
    fs::create_directories(o.dir);
    const Set set = load_set(o);
    return dispatch(set, o.command, o.args);
  } catch (const std::exception& e) {
    die(e.what());
  }
}
