#pragma once

#include <algorithm>
#include <chrono>

namespace replagent::agent {

// Capped exponential backoff: initial, 2x, 4x, ... up to max, then max forever. Deterministic
// (no jitter): a StatefulSet has a handful of pods, not a thundering herd.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : next_(initial), initial_(initial), max_(max) {}
  std::chrono::milliseconds next() {
    const auto current = next_;
    next_ = std::min(max_, next_ * 2);
    return current;
  }
  void reset() { next_ = initial_; }

 private:
  std::chrono::milliseconds next_, initial_, max_;
};

}  // namespace replagent::agent
