// The one owner of Boost.Process: everything that includes it is in this file.
#include "agent/process.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <utility>  // before any Boost header: Boost 1.74's asio needs std::exchange under C++20

#include "agent/config.hpp"
#include "agent/signals.hpp"

namespace replagent::agent {
namespace {

namespace bp = boost::process;
namespace asio = boost::asio;
using Steady = std::chrono::steady_clock;

constexpr std::size_t kTailLines = 20;
constexpr auto kPollSlice = std::chrono::milliseconds(100);
// After the child exits, its output is read to EOF; only a grandchild that escaped the
// process group and kept the pipe open can stall that, and it does not get to hold us.
constexpr auto kDrainLimit = std::chrono::seconds(2);

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

void set_cloexec(int fd) {
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

// Collects the child's output: splits it into lines on '\n' and '\r' (pg_basebackup redraws
// its progress line with '\r'), hands each non-empty line to the caller and keeps the last
// few for the error message.
class OutputSink {
 public:
  explicit OutputSink(const LineHandler& on_line) : on_line_(on_line) {}

  void emit(std::string_view line) {
    if (line.empty()) return;
    tail_.emplace_back(line);
    if (tail_.size() > kTailLines) tail_.pop_front();
    if (on_line_) on_line_(line);
  }

  std::string tail() const {
    std::string out;
    for (const auto& l : tail_) out += (out.empty() ? "" : "\n") + l;
    return out;
  }

 private:
  const LineHandler& on_line_;
  std::deque<std::string> tail_;
};

// One of the child's output pipes, read asynchronously until EOF.
class PipeReader {
 public:
  PipeReader(asio::io_context& io, OutputSink& sink) : pipe_(io), sink_(sink) {
    // Not inherited by children that other threads start meanwhile: a stray copy of the
    // write end would keep our read from ever seeing EOF.
    set_cloexec(pipe_.native_source());
    set_cloexec(pipe_.native_sink());
  }

  bp::async_pipe& pipe() { return pipe_; }
  bool done() const { return done_; }

  void start() {
    pipe_.async_read_some(asio::buffer(buf_),
                          [this](const boost::system::error_code& ec, std::size_t n) {
                            consume(std::string_view(buf_.data(), n));
                            if (ec) {  // EOF, or the pipe closed by abandon()
                              flush();
                              done_ = true;
                              return;
                            }
                            start();
                          });
  }

  void abandon() {
    boost::system::error_code ignored;
    pipe_.close(ignored);
  }

 private:
  void consume(std::string_view data) {
    for (char c : data) {
      if (c == '\n' || c == '\r') {
        flush();
      } else {
        partial_ += c;
      }
    }
  }
  void flush() {
    sink_.emit(partial_);
    partial_.clear();
  }

  bp::async_pipe pipe_;
  OutputSink& sink_;
  std::array<char, 4096> buf_{};
  std::string partial_;
  bool done_ = false;
};

// The agent's environment with `overrides` applied, as execve wants it. Built here rather
// than with boost::process::environment, whose find() in Boost 1.74 reads past the end of
// shorter entries (AddressSanitizer: heap-buffer-overflow).
class ChildEnvironment {
 public:
  explicit ChildEnvironment(const std::map<std::string, std::string>& overrides) {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      const std::string_view entry(*e);
      const auto eq = entry.find('=');
      if (eq == std::string_view::npos) continue;
      const std::string name(entry.substr(0, eq));
      if (overrides.count(name) != 0) continue;
      // A password the agent was given in its environment never reaches a child (initdb,
      // pg_ctl and the server it starts would all inherit it); main also scrubs its own.
      if (is_secret_variable(name)) continue;
      entries_.emplace_back(entry);
    }
    for (const auto& [key, value] : overrides) entries_.push_back(key + "=" + value);
    for (auto& entry : entries_) pointers_.push_back(entry.data());
    pointers_.push_back(nullptr);
  }
  char** envp() { return pointers_.data(); }

 private:
  std::vector<std::string> entries_;
  std::vector<char*> pointers_;
};

// The child leads its own process group (see run()), so a signal reaches the tools it forks
// too: pg_basebackup streams WAL from a forked background process.
void signal_group(pid_t pid, int sig) {
  if (::kill(-pid, sig) != 0) ::kill(pid, sig);
}

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

class BoostProcessRunner final : public ProcessRunner {
 public:
  explicit BoostProcessRunner(StopToken stop) : stop_(stop) {}

  ProcessResult run(const ProcessSpec& spec, const LineHandler& on_line) override {
    ProcessResult result;
    const std::string path = find_program(spec.program, spec.search_dir);
    if (path.empty() && spec.program.find('/') != std::string::npos) {
      result.error = "program '" + spec.program + "' does not exist or is not executable";
      return result;
    }
    if (path.empty()) {
      result.error = "program '" + spec.program + "' not found in " +
                     (spec.search_dir.empty() ? "" : spec.search_dir + " or ") +
                     "PATH (set postgres.bin_dir)";
      return result;
    }
    if (stop_.stop_requested() && !spec.runs_while_stopping) {
      result.end = ProcessResult::End::kStopped;
      result.error = "not started: the agent is stopping";
      return result;
    }

    ChildEnvironment env(spec.env);

    asio::io_context io;
    OutputSink sink(on_line);
    PipeReader out(io, sink);
    PipeReader err(io, sink);
    std::error_code ec;
    const pid_t agent_pid = ::getpid();
    bp::child child(
        bp::exe = path, bp::args = spec.args, bp::std_in<bp::null, bp::std_out> out.pipe(),
        bp::std_err > err.pipe(),
        bp::extend::on_setup = [&env](auto& exec) { exec.env = env.envp(); },
        // Own process group: signals we send reach the child's children, and a Ctrl-C meant
        // for the agent does not hit the child before the agent decides what to do.
        // The child dies with the agent (PR_SET_PDEATHSIG): outside a container nothing else
        // would end a pg_basebackup still writing into the staging directory that the next
        // init deletes. An agent that died before the prctl took effect is caught by getppid.
        bp::extend::on_exec_setup =
            [agent_pid](auto&) {
              ::setpgid(0, 0);
              ::prctl(PR_SET_PDEATHSIG, SIGKILL);
              if (::getppid() != agent_pid) ::_exit(127);
            },
        ec);
    if (ec) {
      result.error = "cannot start " + path + ": " + ec.message();
      return result;
    }
    const pid_t pid = child.id();
    spdlog::debug("started {} (pid {})", path, pid);

    try {
      wait_for_child(spec, child, out, err, io, result);
    } catch (...) {
      // A line handler threw: do not leave the child (or its group) behind. Once reaped, the
      // pid may be reused, so only the group is signalled then.
      if (child.running(ec)) {
        signal_group(pid, SIGKILL);
        child.wait(ec);
      } else {
        ::kill(-pid, SIGKILL);
      }
      throw;
    }
    result.output_tail = sink.tail();
    spdlog::debug("{} (pid {}) {}", path, pid, result.describe());
    return result;
  }

 private:
  void wait_for_child(const ProcessSpec& spec, bp::child& child, PipeReader& out, PipeReader& err,
                      asio::io_context& io, ProcessResult& result) {
    const pid_t pid = child.id();
    const auto started = Steady::now();
    std::optional<ProcessResult::End> forced;  // set once we decided to end the child
    std::optional<Steady::time_point> term_sent;
    std::optional<Steady::time_point> exited_at;
    bool killed = false;
    out.start();
    err.start();

    for (;;) {
      if (!out.done() || !err.done()) {
        io.restart();
        io.run_for(kPollSlice);
      } else if (!exited_at) {
        // Output closed but the child lives on: wait on the stop pipe so a stop is seen now.
        pollfd pfd{stop_.fd(), POLLIN, 0};
        ::poll(&pfd, 1, 20);
      }
      const auto now = Steady::now();
      std::error_code ec;
      if (!exited_at && !child.running(ec)) {
        exited_at = now;
        // A child we ended may leave children that ignored SIGTERM; they would hold the pipes.
        // Only the group is signalled now: the child's own pid is reaped and may be reused.
        if (forced) ::kill(-pid, SIGKILL);
      }
      if (exited_at) {
        if (out.done() && err.done()) break;
        if (now - *exited_at >= kDrainLimit) {
          out.abandon();
          err.abandon();
          io.restart();
          io.poll();
          break;
        }
        continue;
      }
      if (!forced) {
        if (stop_.stop_requested() && !spec.runs_while_stopping) {
          forced = ProcessResult::End::kStopped;
        } else if (spec.timeout && now - started >= *spec.timeout) {
          forced = ProcessResult::End::kTimedOut;
        }
        if (forced) {
          signal_group(pid, SIGTERM);
          term_sent = now;
          result.error = "sent SIGTERM";
        }
      } else if (!killed && now - *term_sent >= spec.kill_grace) {
        // PLATFORM.md: a SIGKILLed child's status looks like "exit 9" through Boost's
        // on_exit, so the kill is tracked here (forced/killed), not inferred from the status.
        signal_group(pid, SIGKILL);
        killed = true;
        result.error = fmt::format("sent SIGTERM, then SIGKILL after the {}ms grace period",
                                   spec.kill_grace.count());
      }
    }

    const int status = child.native_exit_code();
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    if (forced) {
      result.end = *forced;
    } else if (WIFSIGNALED(status)) {
      result.end = ProcessResult::End::kSignaled;
      result.term_signal = WTERMSIG(status);
    } else if (WIFEXITED(status)) {
      result.end = ProcessResult::End::kExited;
    } else {
      // Reaped by someone else (SIGCHLD ignored elsewhere): the status is lost.
      result.end = ProcessResult::End::kExited;
      result.error = "exit status unknown (child reaped elsewhere)";
    }
  }

  StopToken stop_;
};

}  // namespace

std::string ProcessResult::describe() const {
  switch (end) {
    case End::kExited:
      return "exited with status " + std::to_string(exit_code);
    case End::kSignaled:
      return "killed by " + signal_name(term_signal);
    case End::kStopped:
      return "stopped because the agent is stopping" + (error.empty() ? "" : " (" + error + ")");
    case End::kTimedOut:
      return "timed out" + (error.empty() ? "" : " (" + error + ")");
    case End::kNotStarted:
      return "not started: " + error;
  }
  return "unknown";
}

std::unique_ptr<ProcessRunner> make_boost_process_runner(StopToken stop) {
  return std::make_unique<BoostProcessRunner>(stop);
}

std::string find_program(const std::string& name, const std::string& search_dir) {
  if (name.empty()) return "";
  if (name.find('/') != std::string::npos) return is_executable_file(name) ? name : "";
  std::vector<std::string> dirs;
  if (!search_dir.empty()) dirs.push_back(search_dir);
  const char* path = std::getenv("PATH");
  // Without PATH (a scratch image's bare environment) use the shell's usual default.
  const std::string_view p = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t begin = 0;
  while (begin <= p.size()) {
    const auto colon = p.find(':', begin);
    const auto end = colon == std::string_view::npos ? p.size() : colon;
    // An empty element means "." to a shell; never search the working directory.
    if (end > begin) dirs.emplace_back(p.substr(begin, end - begin));
    begin = end + 1;
  }
  for (const auto& dir : dirs) {
    std::string candidate = dir + (dir.back() == '/' ? "" : "/") + name;
    if (is_executable_file(candidate)) return candidate;
  }
  return "";
}

}  // namespace replagent::agent
