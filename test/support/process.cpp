#include "test/support/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace replagent::test {
namespace {

// Every child is reaped here, through waitpid(-1): the test process is a child subreaper, so
// orphans of our children (a pg_basebackup whose agent died, backends of a killed postmaster)
// become our children too and must be reaped, while the status of the children we started
// must not be lost to that loop.
// Thread-safe: a test may start processes from two threads (the e2e reader beside the main
// thread), and waitpid(-1) in one thread reaps the other's children too; the sets below were
// shared without a lock, and that race aborted an e2e run.
struct Reaper {
  std::mutex mutex;
  std::set<pid_t> started;
  std::map<pid_t, ExitStatus> ended;

  Reaper() {
    // Orphans re-parent to us instead of to pid 1: a test can then see (and clean up) what a
    // killed agent left running.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  }

  void add(pid_t pid) {
    std::lock_guard lock(mutex);
    started.insert(pid);
  }

  bool is_ours(pid_t pid) {
    std::lock_guard lock(mutex);
    return started.count(pid) != 0;
  }

  void reap_all() {
    std::lock_guard lock(mutex);
    reap_locked();
  }

  std::optional<ExitStatus> status_of(pid_t pid) {
    std::lock_guard lock(mutex);
    reap_locked();
    auto it = ended.find(pid);
    if (it == ended.end()) return std::nullopt;
    return it->second;
  }

 private:
  void reap_locked() {
    for (;;) {
      int st = 0;
      pid_t p = ::waitpid(-1, &st, WNOHANG);
      if (p <= 0) return;
      ExitStatus s;
      if (WIFEXITED(st)) {
        s.exited = true;
        s.code = WEXITSTATUS(st);
      } else if (WIFSIGNALED(st)) {
        s.signal = WTERMSIG(st);
      } else {
        continue;
      }
      if (started.count(p)) ended[p] = s;
    }
  }
};

Reaper& reaper() {
  static Reaper r;
  return r;
}

bool stripped_from_child_env(const std::string& name) {
  return name.rfind("REPLAGENT_", 0) == 0 || name.rfind("PG", 0) == 0 || name.rfind("POD_", 0) == 0;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int open_output(const std::filesystem::path& p) {
  const char* path = p.empty() ? "/dev/null" : p.c_str();
  int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw std::runtime_error("cannot open " + std::string(path) + ": " + std::strerror(errno));
  }
  return fd;
}

}  // namespace

std::string ExitStatus::describe() const {
  if (exited) return "exited with status " + std::to_string(code);
  return std::string("killed by signal ") + std::to_string(signal) + " (" + ::strsignal(signal) +
         ")";
}

ChildProcess::ChildProcess(const SpawnOptions& options)
    : stdout_path_(options.stdout_path), stderr_path_(options.stderr_path) {
  if (options.argv.empty()) throw std::runtime_error("spawn: empty argv");
  name_ = std::filesystem::path(options.argv[0]).filename().string();
  Reaper& r = reaper();

  // Everything the child needs is prepared before fork: between fork and exec only
  // async-signal-safe calls are allowed.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    std::string key = kv.substr(0, kv.find('='));
    if (stripped_from_child_env(key) || options.env.count(key)) continue;
    env_strings.push_back(std::move(kv));
  }
  for (const auto& [k, v] : options.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = options.argv;
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int out_fd = open_output(options.stdout_path);
  int err_fd = open_output(options.stderr_path);
  int in_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int exec_pipe[2];
  if (::pipe2(exec_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  const pid_t parent = ::getpid();
  const char* cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();
  const int death_signal = options.parent_death_signal;

  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);
    if (death_signal != 0) {
      ::prctl(PR_SET_PDEATHSIG, death_signal, 0, 0, 0);
      if (::getppid() != parent) ::_exit(127);
    }
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::signal(SIGPIPE, SIG_DFL);
    if (cwd != nullptr && ::chdir(cwd) != 0) {
      int e = errno;
      (void)!::write(exec_pipe[1], &e, sizeof e);
      ::_exit(127);
    }
    ::execve(argv[0], argv.data(), envp.data());
    int e = errno;
    (void)!::write(exec_pipe[1], &e, sizeof e);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here: no window in which a signal to the group misses the child
  r.add(pid);
  pid_ = pid;
  ::close(exec_pipe[1]);
  ::close(out_fd);
  ::close(err_fd);
  ::close(in_fd);
  int child_errno = 0;
  ssize_t n = ::read(exec_pipe[0], &child_errno, sizeof child_errno);
  ::close(exec_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    wait_for(std::chrono::seconds(5));
    throw std::runtime_error("cannot run " + options.argv[0] + ": " + std::strerror(child_errno));
  }
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_) {
    ::kill(-pid_, SIGKILL);
    wait_for(std::chrono::seconds(10));
  }
}

std::optional<ExitStatus> ChildProcess::poll() {
  if (!status_) status_ = reaper().status_of(pid_);
  return status_;
}

std::optional<ExitStatus> ChildProcess::wait_for(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto s = poll()) return s;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void ChildProcess::signal(int sig) {
  if (!poll()) ::kill(pid_, sig);
}

void ChildProcess::signal_group(int sig) {
  // The group may outlive its leader (orphans keep the pgid); the pgid cannot be reused by an
  // unrelated process while any member exists.
  if (group_alive()) ::kill(-pid_, sig);
}

bool ChildProcess::group_alive() const {
  reaper().reap_all();
  return !processes_in_group(pid_).empty();
}

ExitStatus ChildProcess::stop(int first_signal, std::chrono::milliseconds grace) {
  signal(first_signal);
  if (auto s = wait_for(grace)) {
    signal_group(SIGKILL);  // whatever the leader left behind
    return *s;
  }
  signal_group(SIGKILL);
  if (auto s = wait_for(std::chrono::seconds(10))) return *s;
  throw std::runtime_error(name_ + " (pid " + std::to_string(pid_) + ") survived SIGKILL");
}

RunResult run_process(SpawnOptions options, std::chrono::milliseconds timeout) {
  std::optional<std::filesystem::path> tmp_out, tmp_err;
  static int counter = 0;
  auto temp_path = [&](const char* what) {
    return std::filesystem::temp_directory_path() /
           ("replagent-test-run-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) +
            "." + what);
  };
  if (options.stdout_path.empty()) options.stdout_path = *(tmp_out = temp_path("out"));
  if (options.stderr_path.empty()) options.stderr_path = *(tmp_err = temp_path("err"));
  // A reused log path is appended to; remember where this run starts.
  std::error_code ec;
  auto size_of = [&](const std::filesystem::path& p) {
    auto s = std::filesystem::file_size(p, ec);
    return ec ? std::uintmax_t{0} : s;
  };
  auto out_start = size_of(options.stdout_path);
  auto err_start = size_of(options.stderr_path);

  RunResult result;
  auto start = std::chrono::steady_clock::now();
  {
    ChildProcess child(options);
    auto s = child.wait_for(timeout);
    if (!s) {
      result.timed_out = true;
      s = child.stop(SIGKILL, std::chrono::milliseconds(0));
    }
    result.status = *s;
  }
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  result.out = slurp(options.stdout_path).substr(out_start);
  result.err = slurp(options.stderr_path).substr(err_start);
  if (tmp_out) std::filesystem::remove(*tmp_out, ec);
  if (tmp_err) std::filesystem::remove(*tmp_err, ec);
  return result;
}

std::vector<ProcInfo> list_processes() {
  std::vector<ProcInfo> procs;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = slurp(entry.path() / "stat");
    auto close = stat.rfind(')');
    auto open = stat.find('(');
    if (close == std::string::npos || open == std::string::npos) continue;  // already gone
    ProcInfo info;
    info.pid = std::stoi(name);
    info.comm = stat.substr(open + 1, close - open - 1);
    std::istringstream rest(stat.substr(close + 1));
    char state = '?';
    rest >> state >> info.ppid >> info.pgid;
    if (state == 'Z' || state == 'X') continue;  // dead, waiting to be reaped
    std::string cmd = slurp(entry.path() / "cmdline");
    for (char& c : cmd) {
      if (c == '\0') c = ' ';
    }
    while (!cmd.empty() && cmd.back() == ' ') cmd.pop_back();
    info.cmdline = cmd;
    procs.push_back(std::move(info));
  }
  return procs;
}

std::vector<ProcInfo> processes_in_group(pid_t pgid) {
  std::vector<ProcInfo> out;
  for (auto& p : list_processes()) {
    if (p.pgid == pgid) out.push_back(std::move(p));
  }
  return out;
}

std::vector<ProcInfo> adopted_orphans() {
  Reaper& r = reaper();
  r.reap_all();
  std::vector<ProcInfo> out;
  const pid_t self = ::getpid();
  for (auto& p : list_processes()) {
    if (p.ppid == self && !r.is_ours(p.pid)) out.push_back(std::move(p));
  }
  return out;
}

std::vector<ProcInfo> processes_mentioning(const std::string& text) {
  std::vector<ProcInfo> out;
  for (auto& p : list_processes()) {
    if (p.cmdline.find(text) != std::string::npos) out.push_back(std::move(p));
  }
  return out;
}

std::string describe(const std::vector<ProcInfo>& procs) {
  std::string s;
  for (const auto& p : procs) {
    s += "  pid " + std::to_string(p.pid) + " ppid " + std::to_string(p.ppid) + " pgid " +
         std::to_string(p.pgid) + ": " + p.cmdline + "\n";
  }
  return s.empty() ? "  (none)\n" : s;
}

}  // namespace replagent::test
