#include "agent/signals.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace replagent::agent {

// Everything request_stop touches is a lock-free atomic or a plain int written before any
// token exists: a signal handler may run between any two instructions of the thread it
// interrupts.
struct detail::StopState {
  std::atomic<bool> stopped{false};
  std::atomic<int> signal{0};
  int read_fd = -1;
  int write_fd = -1;
};

static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<int>::is_always_lock_free,
              "the signal handler needs lock-free atomics");

bool StopToken::stop_requested() const { return state_ != nullptr && state_->stopped.load(); }

int StopToken::signal() const { return state_ == nullptr ? 0 : state_->signal.load(); }

int StopToken::fd() const { return state_ == nullptr ? -1 : state_->read_fd; }

// The self-pipe: a fd that poll()/select()/asio can wait on together with other fds, so a
// sleeping wait wakes on SIGTERM instead of finishing its timeout first. O_CLOEXEC keeps it
// out of children (pg_basebackup must not hold our pipe); O_NONBLOCK keeps the handler from
// blocking when the pipe is full (one pending byte is enough: it is never read).
StopSource::StopSource() : state_(std::make_unique<detail::StopState>()) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw std::runtime_error(std::string("cannot create the stop pipe: ") + std::strerror(errno));
  }
  state_->read_fd = fds[0];
  state_->write_fd = fds[1];
}

StopSource::~StopSource() {
  ::close(state_->read_fd);
  ::close(state_->write_fd);
}

// Async-signal-safe only: atomics and write(2); errno is restored for the interrupted code.
void StopSource::request_stop(int sig) noexcept {
  const int saved_errno = errno;
  if (!state_->stopped.exchange(true)) {
    state_->signal.store(sig);
    const char byte = 1;
    [[maybe_unused]] ssize_t n = ::write(state_->write_fd, &byte, 1);
  }
  errno = saved_errno;
}

namespace {

// Never destroyed: a signal may arrive while static destructors run.
StopSource& process_source() {
  static StopSource* source = new StopSource();
  return *source;
}

std::atomic<StopSource*> g_handled{nullptr};

extern "C" void on_stop_signal(int sig) {
  if (StopSource* s = g_handled.load()) s->request_stop(sig);
}

}  // namespace

StopToken process_stop() { return process_source().token(); }

void install_stop_handlers() {
  g_handled.store(&process_source());  // before the handlers, so the first signal finds it
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

}  // namespace replagent::agent
