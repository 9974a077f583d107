#include "test/support/backup_support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "test/support/scratch.hpp"

#ifndef REPLAGENT_BINARY
#error "REPLAGENT_BINARY must name the replagent executable (set by test/CMakeLists.txt)"
#endif

namespace replagent::test {
namespace fs = std::filesystem;

namespace {

std::atomic<int> g_runs{0};

SpawnOptions backup_spawn(const Env& env, const std::vector<std::string>& flags,
                          const fs::path& logs) {
  fs::create_directories(logs);
  const std::string n = std::to_string(++g_runs);
  SpawnOptions opts;
  opts.argv = {REPLAGENT_BINARY, "backup"};
  opts.argv.insert(opts.argv.end(), flags.begin(), flags.end());
  opts.env = env;
  opts.stdout_path = logs / ("backup-" + n + ".stdout");
  opts.stderr_path = logs / ("backup-" + n + ".stderr");
  // Like a Job's pod being deleted: the agent gets SIGTERM and cleans up.
  opts.parent_death_signal = SIGTERM;
  return opts;
}

}  // namespace

Env backup_env(const Pod& any_pod, const fs::path& dir) {
  Env env = any_pod.init_env();
  env.erase("PGDATA");
  // Built as std::string values: GCC 12 at -O2 warns falsely (-Wrestrict) on assigning a
  // literal to a map's string.
  const std::pair<const char*, std::string> settings[] = {
      {"POD_NAME", "todo-db-backup"},
      {"REPLAGENT_POD_SERVICE", "todo-db"},
      {"REPLAGENT_BACKUP_DIR", dir.string()},
      {"REPLAGENT_BACKUP_KEEP", "7"},
      {"LC_ALL", "C"},
  };
  for (const auto& [key, value] : settings) env.insert_or_assign(key, value);
  return env;
}

RunResult run_backup(const Env& env, const std::vector<std::string>& flags, const fs::path& logs,
                     std::chrono::milliseconds timeout) {
  return run_process(backup_spawn(env, flags, logs), timeout);
}

std::unique_ptr<ChildProcess> start_backup(const Env& env, const std::vector<std::string>& flags,
                                           const fs::path& logs) {
  return std::make_unique<ChildProcess>(backup_spawn(env, flags, logs));
}

std::string describe(const RunResult& r) {
  return "replagent backup " +
         (r.timed_out ? std::string("timed out (killed by the harness)") : r.status.describe()) +
         " after " + std::to_string(r.elapsed.count()) + " ms\n-- stderr:\n" + r.err +
         "-- stdout:\n" + r.out;
}

void publish_service(DnsServer& dns, const std::vector<std::string>& ips) {
  if (ips.empty()) throw std::logic_error("publish_service: no addresses");
  std::string first = ips.front();
  for (std::size_t i = 1; i < ips.size(); ++i)
    first += std::string(" ") + kServiceName + "\n" + ips[i];
  dns.set_record(kServiceName, first);
}

std::unique_ptr<ChildProcess> start_pgbench(const Pod& pod, const std::vector<std::string>& args,
                                            const fs::path& logs) {
  fs::create_directories(logs);
  SpawnOptions opts;
  opts.argv = {std::string(kPgBinDir) + "/pgbench",
               "-h",
               pod.socket_dir().string(),
               "-p",
               std::to_string(pod.port()),
               "-U",
               "postgres"};
  opts.argv.insert(opts.argv.end(), args.begin(), args.end());
  opts.argv.push_back("postgres");
  opts.stdout_path = logs / "pgbench.stdout";
  opts.stderr_path = logs / "pgbench.stderr";
  return std::make_unique<ChildProcess>(opts);
}

std::vector<std::string> files_ending(const fs::path& dir, const std::string& suffix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void flip_bytes(const fs::path& file, std::uintmax_t offset, std::size_t count) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + file.string());
  std::string buf(count, '\0');
  f.seekg(static_cast<std::streamoff>(offset));
  f.read(buf.data(), static_cast<std::streamsize>(count));
  for (char& c : buf) c = static_cast<char>(c ^ 0xFF);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(buf.data(), static_cast<std::streamsize>(count));
  if (!f) throw std::runtime_error("cannot rewrite " + file.string());
}

void allocate_file(const fs::path& file, std::uintmax_t size) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot create " + file.string());
  const int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
  ::close(fd);
  if (rc != 0) throw std::runtime_error("fallocate " + file.string() + ": " + std::strerror(rc));
}

std::uintmax_t free_bytes(const fs::path& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) throw std::runtime_error("statvfs " + dir.string());
  return static_cast<std::uintmax_t>(st.f_bavail) * st.f_frsize;
}

}  // namespace replagent::test
