#pragma once

#include <chrono>

namespace replagent::agent {

// Time as an effect, so flows that wait and back off are unit-tested without sleeping.
class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual time_point now() const = 0;
  // Sleeps for d, or less when a stop (SIGTERM) is requested. False when stopped.
  virtual bool sleep_for(std::chrono::milliseconds d) = 0;
};

// The real clock; sleep_for wakes early on SIGTERM/SIGINT (see signals.hpp).
Clock& system_clock();

}  // namespace replagent::agent
