#include "test/support/sts/proc.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "test/support/process.hpp"

extern char** environ;

namespace replagent::test::sts {
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Our environment with `env` set on top, as `env K=V cmd` gives it.
std::vector<std::string> environment(const EnvList& env) {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const std::string key = kv.substr(0, kv.find('='));
    bool overridden = false;
    for (const auto& [k, v] : env) overridden = overridden || k == key;
    if (!overridden) out.push_back(kv);
  }
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int open_or_die(const char* path, int flags) {
  const int fd = ::open(path, flags | O_CLOEXEC, 0600);
  if (fd < 0)
    throw std::runtime_error("cannot open " + std::string(path) + ": " + std::strerror(errno));
  return fd;
}

int output_fd(const fs::path& log) {
  return log.empty() ? open_or_die("/dev/null", O_WRONLY)
                     : open_or_die(log.c_str(), O_WRONLY | O_CREAT | O_APPEND);
}

// stdin holding `input` (an unlinked temporary file: no pipe to fill and deadlock on).
int input_fd(const std::string& input) {
  if (input.empty()) return open_or_die("/dev/null", O_RDONLY);
  std::FILE* f = std::tmpfile();
  if (f == nullptr) throw std::runtime_error(std::string("tmpfile: ") + std::strerror(errno));
  std::fwrite(input.data(), 1, input.size(), f);
  std::fflush(f);
  const int fd = ::dup(::fileno(f));
  std::fclose(f);
  ::lseek(fd, 0, SEEK_SET);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
}

// In the child: 0, 1, 2 from the given descriptors, nothing else inherited.
void child_fds(int in, int out, int err) {
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(err, 2);
  ::close_range(3, ~0U, 0);
  ::signal(SIGPIPE, SIG_DFL);
}

[[noreturn]] void child_exec(std::vector<char*>& argv, std::vector<char*>& envp) {
  ::execvpe(argv[0], argv.data(), envp.data());
  const std::string msg =
      "sts: cannot run " + std::string(argv[0]) + ": " + std::strerror(errno) + "\n";
  (void)!::write(2, msg.data(), msg.size());
  ::_exit(127);
}

pid_t start(const Spawn& s, int out_override) {
  std::vector<std::string> argv_strings = s.argv;
  std::vector<std::string> env_strings = environment(s.env);
  auto argv = pointers(argv_strings);
  auto envp = pointers(env_strings);
  const int in = input_fd(s.input);
  const int out = out_override >= 0 ? out_override : output_fd(s.log);
  const int err = output_fd(s.log);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    if (s.detached) ::setsid();
    child_fds(in, out, err);
    child_exec(argv, envp);
  }
  ::close(in);
  if (out_override < 0) ::close(out);
  ::close(err);
  return pid;
}

int wait_exit(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) return 127;
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace

bool alive(pid_t pid) {
  const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return false;
  return stat[close + 2] != 'Z';
}

std::optional<pid_t> pid_of(const fs::path& pid_file, const std::string& pattern) {
  std::ifstream in(pid_file);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  if (line.empty() || line.find_first_not_of("0123456789") != std::string::npos || line.size() > 9)
    return std::nullopt;
  const pid_t pid = std::stoi(line);
  if (!alive(pid)) return std::nullopt;
  std::string cmdline = slurp("/proc/" + std::to_string(pid) + "/cmdline");
  for (char& c : cmdline) {
    if (c == '\0') c = ' ';
  }
  if (cmdline.find(pattern) == std::string::npos) return std::nullopt;
  return pid;
}

bool wait_gone(pid_t pid, int seconds) {
  for (int i = 0; i < seconds * 10; ++i) {
    // Our own detached children (a sidecar started by this run) end as zombies: reap them.
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    if (!alive(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return !alive(pid);
}

std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  for (const auto& p : list_processes()) {
    if (p.ppid == pid) out.push_back(p.pid);
  }
  return out;
}

void write_pid_file(const fs::path& file, pid_t pid) {
  std::ofstream(file, std::ios::trunc) << pid << "\n";
}

pid_t spawn(const Spawn& s) { return start(s, -1); }

int run(const Spawn& s) { return wait_exit(start(s, -1)); }

std::pair<int, std::string> capture(const Spawn& s) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  const pid_t pid = start(s, fds[1]);
  ::close(fds[1]);
  std::string out;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  return {wait_exit(pid), out};
}

void spawn_supervised(const std::vector<std::string>& argv, const fs::path& log,
                      const fs::path& pid_file) {
  std::vector<std::string> argv_strings = argv;
  std::vector<std::string> env_strings = environment({});
  auto args = pointers(argv_strings);
  auto envp = pointers(env_strings);
  const int in = input_fd("");
  const int out = output_fd(log);
  const std::string pid_path = pid_file.string();
  const pid_t supervisor = ::fork();
  if (supervisor < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (supervisor == 0) {
    ::setsid();
    child_fds(in, out, out);
    const pid_t child = ::fork();
    if (child < 0) ::_exit(1);
    if (child == 0) child_exec(args, envp);
    const std::string line = std::to_string(child) + "\n";
    const int fd = ::open(pid_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      (void)!::write(fd, line.data(), line.size());
      ::close(fd);
    }
    wait_exit(child);
    ::_exit(0);
  }
  ::close(in);
  ::close(out);
}

void exec(const std::vector<std::string>& argv, const EnvList& env) {
  std::vector<std::string> argv_strings = argv;
  std::vector<std::string> env_strings = environment(env);
  auto args = pointers(argv_strings);
  auto envp = pointers(env_strings);
  ::execvpe(args[0], args.data(), envp.data());
  throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(errno));
}

}  // namespace replagent::test::sts
