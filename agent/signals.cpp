#include "agent/signals.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>

namespace replagent::agent {
namespace {

// Everything the handler touches is a lock-free atomic: a signal handler may run between any
// two instructions of the thread it interrupts.
std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0};
std::atomic<int> g_pipe_read{-1};
std::atomic<int> g_pipe_write{-1};
std::once_flag g_pipe_once;

static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<int>::is_always_lock_free,
              "the signal handler needs lock-free atomics");

// The self-pipe: a fd that poll()/select()/asio can wait on together with other fds, so a
// sleeping wait wakes on SIGTERM instead of finishing its timeout first. O_CLOEXEC keeps it
// out of children (pg_basebackup must not hold our pipe); O_NONBLOCK keeps the handler from
// blocking when the pipe is full (one pending byte is enough).
void ensure_pipe() {
  std::call_once(g_pipe_once, [] {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
      throw std::runtime_error(std::string("cannot create the stop pipe: ") + std::strerror(errno));
    }
    g_pipe_read.store(fds[0]);
    g_pipe_write.store(fds[1]);
  });
}

// Async-signal-safe only: atomics and write(2); errno is restored for the interrupted code.
void mark_stop(int sig) {
  const int saved_errno = errno;
  g_signal.store(sig);
  g_stop.store(true);
  const int fd = g_pipe_write.load();
  if (fd >= 0) {
    const char byte = 1;
    [[maybe_unused]] ssize_t n = ::write(fd, &byte, 1);
  }
  errno = saved_errno;
}

extern "C" void on_stop_signal(int sig) { mark_stop(sig); }

}  // namespace

void install_stop_handlers() {
  ensure_pipe();  // before the handlers, so the first signal already finds the pipe
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  // SA_RESTART: a stop is observed through the flag and the pipe, not through EINTR, so
  // unrelated blocking calls (library code) need not handle an interruption.
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGTERM, SIGINT}) {
    if (::sigaction(sig, &sa, nullptr) != 0) {
      throw std::runtime_error(std::string("cannot install the handler for ") + strsignal(sig) +
                               ": " + std::strerror(errno));
    }
  }
}

bool stop_requested() { return g_stop.load(); }

int stop_signal() { return g_signal.load(); }

int stop_fd() {
  ensure_pipe();
  return g_pipe_read.load();
}

void request_stop_for_test() {
  ensure_pipe();
  mark_stop(SIGTERM);
}

void reset_stop_for_test() {
  ensure_pipe();
  g_stop.store(false);
  g_signal.store(0);
  char buf[64];
  while (::read(g_pipe_read.load(), buf, sizeof buf) > 0) {
  }
}

}  // namespace replagent::agent
