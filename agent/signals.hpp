#pragma once

#include <csignal>
#include <memory>

namespace replagent::agent {

namespace detail {
struct StopState;
}

// A stop as a value: long work (waits, clones, polls) is handed a StopToken through its deps
// and checks stop_requested() or polls fd() (readable once a stop is requested), so it cleans
// up instead of dying mid-write. Tests make their own StopSource and stop exactly the flow
// they drive; nothing process-wide is reset between tests.
class StopToken {
 public:
  StopToken() = default;  // a token that never stops
  bool stop_requested() const;
  int signal() const;  // the signal that asked for the stop (SIGTERM for request_stop()), 0 if none
  // Readable once a stop is requested, for poll()/asio beside other descriptors; -1 for a
  // token that never stops (poll() ignores negative descriptors).
  int fd() const;

 private:
  friend class StopSource;
  explicit StopToken(const detail::StopState* state) : state_(state) {}
  const detail::StopState* state_ = nullptr;
};

// Owns one stop: a flag, the signal that set it and a self-pipe. It must outlive its tokens.
class StopSource {
 public:
  StopSource();  // throws std::runtime_error when the pipe cannot be made
  ~StopSource();
  StopSource(const StopSource&) = delete;
  StopSource& operator=(const StopSource&) = delete;
  // Async-signal-safe (atomics and write(2)): the signal handler calls it. Final.
  void request_stop(int signal = SIGTERM) noexcept;
  StopToken token() const { return StopToken(state_.get()); }

 private:
  std::unique_ptr<detail::StopState> state_;
};

// The process's stop, requested by SIGTERM/SIGINT once install_stop_handlers() ran. Only the
// composition root (agent/cmd) reads it and hands its token to the effects it builds.
StopToken process_stop();
void install_stop_handlers();

}  // namespace replagent::agent
