#include "agent/clock.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <thread>

namespace replagent::agent {

// steady_clock: deadlines and backoff must not jump when NTP or an admin sets the time.
Clock::time_point SystemClock::now() const { return std::chrono::steady_clock::now(); }

Clock::wall_time SystemClock::wall_now() const { return std::chrono::system_clock::now(); }

// Waits on the stop pipe rather than sleeping, so SIGTERM during a backoff ends the wait at
// once: the kubelet's grace period is short, and an init container that keeps sleeping
// through it gets SIGKILLed mid-step.
bool SystemClock::sleep_for(std::chrono::milliseconds d) {
  const auto deadline = now() + d;
  while (!stop_.stop_requested()) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now()).count();
    if (left <= 0) return true;
    pollfd pfd{stop_.fd(), POLLIN, 0};
    // poll's timeout is an int; longer sleeps simply loop.
    const int timeout_ms = static_cast<int>(std::min<long long>(left, 1'000'000));
    const int rc = ::poll(&pfd, 1, timeout_ms);
    if (rc < 0 && errno != EINTR) {
      // poll cannot wait (ENOMEM): still honour the duration, in slices so a stop is seen.
      std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
          std::chrono::milliseconds(left), std::chrono::milliseconds(100)));
    }
  }
  return false;
}

}  // namespace replagent::agent
