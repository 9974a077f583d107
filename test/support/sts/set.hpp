// replagent-sts: the local StatefulSet "todo-db" on loopback (see kHelp in set.cpp). This header:
// its command line, the set's settings (DIR/sts.conf), the paths of its state, its messages.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace replagent::test::sts {

inline constexpr const char* kSetName = "todo-db";
inline constexpr const char* kNamespace = "default";

// The command line: options before the command, then the command and its arguments.
struct Options {
  std::filesystem::path dir;  // --dir, else $STS_DIR, else /var/tmp/replagent-sts
  std::string net, port, dns_port, sidecar_port, bin;  // empty: not given
  int ready_timeout = 120;
  std::string command;
  std::vector<std::string> args;
  // Told the set's settings: such a command may create the set.
  bool has_settings() const { return !(net + port + dns_port + sidecar_port + bin).empty(); }
};
// Exits 0 after --help and 2 on bad usage.
Options parse_options(int argc, char** argv);

// One set: its settings (sts.conf, overridden by the options) and where its state lives.
struct Set {
  std::filesystem::path dir;
  std::string net = "127.0.0";
  std::string port = "5432";
  std::string dns_port = "5353";
  std::string sidecar_port = "9187";  // every pod's sidecar listens on <pod address>:this
  std::string bin;                    // the replagent binary
  int ready_timeout = 120;

  std::string dns_ip() const { return net + ".2"; }
  std::string pod_ip(int n) const { return net + "." + std::to_string(10 + n); }
  static std::string pod_name(int n) { return std::string(kSetName) + "-" + std::to_string(n); }
  std::filesystem::path file(const std::string& name) const { return dir / name; }
  std::filesystem::path pod_file(int n, const std::string& suffix) const {
    return dir / ("pod-" + std::to_string(n) + suffix);  // pod-N.phase, pod-N.env, ...
  }
  std::filesystem::path vol(int n) const { return dir / ("vol-" + std::to_string(n)); }
  std::filesystem::path pgdata(int n) const { return vol(n) / "pgdata"; }
  std::filesystem::path sock(int n) const { return dir / ("sock-" + std::to_string(n)); }
  std::filesystem::path termination_log(int n) const {
    return dir / ("termination-log-" + std::to_string(n));
  }
  std::filesystem::path secret(const std::string& key) const { return dir / "secrets" / key; }
  std::filesystem::path log(int n, const std::string& what) const {
    return dir / "logs" / (pod_name(n) + "." + what + ".log");
  }
};

// Reads DIR/sts.conf, writing it first when the set is new (its settings from the options),
// then applies the options on top. The binary defaults to this build's replagent (remembered).
Set load_set(const Options& o);

// "HH:MM:SS.mmm sts: what" on stderr (UTC): the progress a bench reads back.
void log(const std::string& what);
[[noreturn]] void die(const std::string& what);    // "sts: what", exit 1
[[noreturn]] void usage(const std::string& what);  // "sts: what" and the usage line, exit 2
bool is_ordinal(const std::string& s);
// A file's content without trailing newlines, as $(cat FILE) gives it ("" when missing).
std::string read_trimmed(const std::filesystem::path& p);
// The last `lines` lines of a file, without the trailing newline.
std::string tail_lines(const std::filesystem::path& p, int lines);

}  // namespace replagent::test::sts
