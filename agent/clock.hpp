#pragma once

#include <chrono>

#include "agent/signals.hpp"

namespace replagent::agent {

// Time as an effect, so flows that wait and back off are unit-tested without sleeping.
class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using wall_time = std::chrono::system_clock::time_point;
  virtual ~Clock() = default;
  // Monotonic: deadlines, durations, backoff.
  virtual time_point now() const = 0;
  // The calendar (UTC): what names and ages files and reports, never what times a wait.
  virtual wall_time wall_now() const = 0;
  // Sleeps for d, or less when its stop is requested. False when stopped.
  virtual bool sleep_for(std::chrono::milliseconds d) = 0;
};

// The real clock; sleep_for wakes early when `stop` is requested.
class SystemClock final : public Clock {
 public:
  explicit SystemClock(StopToken stop) : stop_(stop) {}
  time_point now() const override;
  wall_time wall_now() const override;
  bool sleep_for(std::chrono::milliseconds d) override;

 private:
  StopToken stop_;
};

}  // namespace replagent::agent
