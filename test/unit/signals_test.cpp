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
  StopSource source;
  const StopToken token = source.token();
  EXPECT_FALSE(token.stop_requested());
  EXPECT_EQ(token.signal(), 0);
  EXPECT_FALSE(fd_readable(token.fd()));
  source.request_stop();
  EXPECT_TRUE(token.stop_requested());
  EXPECT_EQ(token.signal(), SIGTERM);
  EXPECT_TRUE(fd_readable(token.fd()));
  EXPECT_TRUE(fd_readable(token.fd()));  // stays readable for every waiter
  source.request_stop(SIGINT);           // final: the first signal is the one reported
  EXPECT_EQ(token.signal(), SIGTERM);
}

TEST(SignalsTest, SourcesAreIndependent) {
  StopSource a;
  StopSource b;
  a.request_stop();
  EXPECT_TRUE(a.token().stop_requested());
  EXPECT_FALSE(b.token().stop_requested());
  EXPECT_FALSE(fd_readable(b.token().fd()));
}

TEST(SignalsTest, DefaultTokenNeverStops) {
  const StopToken never;
  EXPECT_FALSE(never.stop_requested());
  EXPECT_EQ(never.signal(), 0);
  EXPECT_EQ(never.fd(), -1);  // poll() skips it
}

// The process's stop is final (nothing resets it), so this runs in a child process.
TEST(SignalsTest, RealSignalRequestsTheProcessStop) {
  EXPECT_EXIT(
      {
        if (process_stop().stop_requested()) std::_Exit(1);
        install_stop_handlers();
        ::raise(SIGINT);
        const StopToken t = process_stop();
        std::_Exit(t.stop_requested() && t.signal() == SIGINT && fd_readable(t.fd()) ? 0 : 2);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(SignalsTest, ClockSleepsAndWakesOnStop) {
  StopSource source;
  SystemClock clock(source.token());
  auto start = clock.now();
  EXPECT_TRUE(clock.sleep_for(milliseconds(50)));
  EXPECT_GE(clock.now() - start, milliseconds(50));

  std::thread stopper([&source] {
    std::this_thread::sleep_for(milliseconds(100));
    source.request_stop();
  });
  start = clock.now();
  EXPECT_FALSE(clock.sleep_for(milliseconds(30000)));
  EXPECT_LT(clock.now() - start, std::chrono::seconds(10));
  stopper.join();
  EXPECT_FALSE(clock.sleep_for(milliseconds(10)));  // already stopped: returns at once
}

TEST(SignalsTest, ClockWithoutStopSleepsItsTime) {
  SystemClock clock{StopToken{}};
  const auto start = clock.now();
  EXPECT_TRUE(clock.sleep_for(milliseconds(20)));
  EXPECT_GE(clock.now() - start, milliseconds(20));
}

}  // namespace
}  // namespace replagent::agent
