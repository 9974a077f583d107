// The soak test's checks (test/integration/sidecar_soak_test.cpp): on one response body (a
// well-formed Prometheus exposition, one JSON value) and on the sidecar process under load (its
// resident memory, its open descriptors).
#pragma once

#include <sys/types.h>

#include <string>

#include "test/support/sidecar.hpp"

namespace replagent::test {

// Every sample line is `name{labels} value [timestamp]`; comments are # HELP / # TYPE.
// Returns an empty string when the exposition is well-formed, else what is wrong.
std::string check_exposition(const std::string& text);

// A strict JSON recogniser (RFC 8259 grammar; no semantic checks): enough to say the /status
// body is one JSON value and nothing else.
bool is_json(const std::string& text);

// VmRSS of `pid` in KiB; -1 when it cannot be read.
long rss_kib(pid_t pid);

// The sidecar's open descriptors as its own /metrics reports them (replagent_process_open_fds,
// counted at scrape time, the scrape's own connection included): the agent makes itself not
// dumpable (PR_SET_DUMPABLE 0), so /proc/<pid>/fd belongs to root and this test cannot list it.
// -1 when the scrape fails or lacks the gauge.
long open_fds(const Sidecar& s);

}  // namespace replagent::test
