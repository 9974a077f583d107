#include "agent/signals.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include "agent/clock.hpp"

namespace replagent::agent {
namespace {

using std::chrono::milliseconds;

bool fd_readable(int fd) {
  pollfd pfd{fd, POLLIN, 0};
  return ::poll(&pfd, 1, 0) == 1;
}

TEST(SignalsTest, StopRequestSetsFlagSignalAndFd) {
  reset_stop_for_test();
  EXPECT_FALSE(stop_requested());
  EXPECT_EQ(stop_signal(), 0);
  EXPECT_FALSE(fd_readable(stop_fd()));
  request_stop_for_test();
  EXPECT_TRUE(stop_requested());
  EXPECT_EQ(stop_signal(), SIGTERM);
  EXPECT_TRUE(fd_readable(stop_fd()));
  EXPECT_TRUE(fd_readable(stop_fd()));  // stays readable for every waiter
  reset_stop_for_test();
  EXPECT_FALSE(stop_requested());
  EXPECT_FALSE(fd_readable(stop_fd()));
}

TEST(SignalsTest, RealSignalRequestsAStop) {
  reset_stop_for_test();
  install_stop_handlers();
  ::raise(SIGINT);
  EXPECT_TRUE(stop_requested());
  EXPECT_EQ(stop_signal(), SIGINT);
  EXPECT_TRUE(fd_readable(stop_fd()));
  reset_stop_for_test();
}

TEST(SignalsTest, ClockSleepsAndWakesOnStop) {
  reset_stop_for_test();
  Clock& clock = system_clock();
  auto start = clock.now();
  EXPECT_TRUE(clock.sleep_for(milliseconds(50)));
  EXPECT_GE(clock.now() - start, milliseconds(50));

  std::thread stopper([] {
    std::this_thread::sleep_for(milliseconds(100));
    request_stop_for_test();
  });
  start = clock.now();
  EXPECT_FALSE(clock.sleep_for(milliseconds(30000)));
  EXPECT_LT(clock.now() - start, std::chrono::seconds(10));
  stopper.join();
  EXPECT_FALSE(clock.sleep_for(milliseconds(10)));  // already stopped: returns at once
  reset_stop_for_test();
}

}  // namespace
}  // namespace replagent::agent
