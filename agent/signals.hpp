#pragma once

namespace replagent::agent {

// SIGTERM/SIGINT request a stop: long work (waits, clones) checks stop_requested() or polls
// stop_fd() (readable once a stop is requested) and cleans up instead of dying mid-write.
void install_stop_handlers();
bool stop_requested();
int stop_signal();  // the signal that asked for the stop, 0 if none
int stop_fd();      // a file descriptor that becomes readable when a stop is requested
void request_stop_for_test();
// Clears a stop (flag, signal, pending bytes on stop_fd) so one test binary can run several
// stop tests. Tests only: a real stop is final.
void reset_stop_for_test();

}  // namespace replagent::agent
