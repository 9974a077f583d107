// `replagent probe`: option parsing, which endpoint it asks, and the pass/fail decision from
// the sidecar's answer and, when needed, the server's.
#include <gtest/gtest.h>

#include "agent/errors.hpp"
#include "probes/probe.hpp"

namespace replagent::probes {
namespace {

using agent::PingStatus;
using namespace std::chrono_literals;

ProbeOptions options(ProbeKind kind, std::uint64_t max_lag = 16'000'000) {
  ProbeOptions o;
  o.kind = kind;
  o.max_lag = max_lag;
  return o;
}

SidecarAnswer answer(int status, std::string body, bool stale = false) {
  return SidecarAnswer{true, status, stale, std::move(body), ""};
}
SidecarAnswer no_answer() { return SidecarAnswer{false, 0, false, "", "Connection refused"}; }

DirectObservation server(bool in_recovery, std::string wal = "",
                         std::optional<std::uint64_t> lag = std::nullopt) {
  DirectObservation d;
  d.ping = PingStatus::kOk;
  d.connected = true;
  d.in_recovery = in_recovery;
  d.wal_receiver_status = std::move(wal);
  d.lag_bytes = lag;
  return d;
}
DirectObservation unreachable(PingStatus ping = PingStatus::kNoResponse) {
  DirectObservation d;
  d.ping = ping;
  d.error = "connection refused";
  return d;
}

struct Case {
  const char* name;
  ProbeOptions options;
  SidecarAnswer sidecar;
  std::optional<DirectObservation> direct;
  bool direct_needed;
  bool ok;
  std::string reason_part;
};

const Case kCases[] = {
    // The sidecar settles it.
    {"ready_sidecar_200", options(ProbeKind::kReady), answer(200, "primary accepts connections"),
     std::nullopt, false, true, "primary accepts connections (sidecar)"},
    {"ready_sidecar_503", options(ProbeKind::kReady), answer(503, "replay lag 9 bytes exceeds 1MB"),
     std::nullopt, false, false, "exceeds 1MB (sidecar)"},
    {"primary_sidecar_503", options(ProbeKind::kPrimary), answer(503, "not a primary"),
     std::nullopt, false, false, "not a primary"},
    {"replica_sidecar_200", options(ProbeKind::kReplica), answer(200, "replica streaming"),
     std::nullopt, false, true, "replica streaming"},
    {"live_sidecar_200", options(ProbeKind::kLive), answer(200, "agent alive"), std::nullopt, false,
     true, "agent alive"},
    {"live_sidecar_503", options(ProbeKind::kLive), answer(503, "poller stuck"), std::nullopt,
     false, false, "poller stuck"},
    // Liveness never asks PostgreSQL.
    {"live_no_sidecar_passes", options(ProbeKind::kLive), no_answer(), std::nullopt, false, true,
     "liveness does not depend on PostgreSQL"},
    // No sidecar, or a stale one: the server decides.
    {"ready_direct_ok", options(ProbeKind::kReady), no_answer(), server(false), true, true,
     "primary accepts connections (direct; sidecar not answering: Connection refused)"},
    {"ready_direct_down", options(ProbeKind::kReady), no_answer(), unreachable(), true, false,
     "cannot query postgres: connection refused"},
    // Without the sidecar a replica is ready only while it streams within the limit (fail
    // closed: it once passed on a bare ping, lagging or cut off from the primary).
    {"ready_direct_replica_streaming", options(ProbeKind::kReady, 1000), no_answer(),
     server(true, "streaming", 10), true, true, "replay lag 10 bytes"},
    {"ready_direct_replica_lagging", options(ProbeKind::kReady, 1000), no_answer(),
     server(true, "streaming", 1001), true, false, "exceeds 1kB"},
    {"ready_direct_replica_not_streaming", options(ProbeKind::kReady), no_answer(),
     server(true, "", 0), true, false, "WAL receiver not running"},
    {"ready_stale_sidecar_direct", options(ProbeKind::kReady), answer(503, "stale snapshot", true),
     server(false), true, true, "sidecar snapshot stale"},
    {"ready_sidecar_odd_status_direct", options(ProbeKind::kReady), answer(500, "internal error"),
     server(false), true, true, "sidecar answered 500"},
    {"primary_direct_ok", options(ProbeKind::kPrimary), no_answer(), server(false), true, true,
     "writable primary (direct"},
    {"primary_direct_replica", options(ProbeKind::kPrimary), no_answer(), server(true), true, false,
     "in recovery"},
    {"primary_direct_down", options(ProbeKind::kPrimary), no_answer(), unreachable(), true, false,
     "cannot query postgres"},
    {"replica_direct_ok", options(ProbeKind::kReplica), no_answer(), server(true, "streaming", 10),
     true, true, "replay lag 10 bytes"},
    {"replica_direct_primary", options(ProbeKind::kReplica), no_answer(), server(false), true,
     false, "not a replica"},
    {"replica_direct_not_streaming", options(ProbeKind::kReplica), no_answer(), server(true, "", 0),
     true, false, "WAL receiver not running"},
    {"replica_direct_lagging", options(ProbeKind::kReplica, 1000), no_answer(),
     server(true, "streaming", 1001), true, false, "replay lag 1001 bytes exceeds 1kB"},
    {"replica_direct_at_limit", options(ProbeKind::kReplica, 1000), no_answer(),
     server(true, "streaming", 1000), true, true, "streaming"},
    {"replica_direct_timed_out", options(ProbeKind::kReplica), no_answer(),
     [] {
       DirectObservation d;
       d.error = "no answer within 500ms";
       return d;
     }(),
     true, false, "no answer within 500ms"},
    {"direct_missing", options(ProbeKind::kReady), no_answer(), std::nullopt, true, false,
     "server not checked"},
};

class ProbeDecisionTest : public ::testing::TestWithParam<Case> {};

TEST_P(ProbeDecisionTest, Decides) {
  const Case& c = GetParam();
  EXPECT_EQ(needs_direct_check(c.options, c.sidecar), c.direct_needed);
  const ProbeResult r = decide_probe(c.options, c.sidecar, c.direct);
  EXPECT_EQ(r.ok, c.ok) << r.reason;
  EXPECT_NE(r.reason.find(c.reason_part), std::string::npos) << r.reason;
}

INSTANTIATE_TEST_SUITE_P(Table, ProbeDecisionTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ProbeOptions, Parse) {
  agent::Config config;
  config.sidecar.max_lag = 5000;
  auto o = parse_probe_options("replica", {}, config);
  EXPECT_EQ(o.kind, ProbeKind::kReplica);
  EXPECT_EQ(o.max_lag, 5000u);
  EXPECT_FALSE(o.max_lag_given);
  EXPECT_EQ(o.timeout, 1000ms);
  o = parse_probe_options("ready", {{"max-lag", "1MiB"}, {"timeout", "300ms"}}, config);
  EXPECT_EQ(o.kind, ProbeKind::kReady);
  EXPECT_EQ(o.max_lag, 1u << 20);
  EXPECT_TRUE(o.max_lag_given);
  EXPECT_EQ(o.timeout, 300ms);
  for (const auto& [kind, opts] :
       std::vector<std::pair<std::string, std::map<std::string, std::string>>>{
           {"readyy", {}},
           {"ready", {{"max-lag", "lots"}}},
           {"ready", {{"timeout", "1"}}},
           {"ready", {{"timeout", "0"}}}}) {
    try {
      parse_probe_options(kind, opts, config);
      ADD_FAILURE() << kind << " accepted";
    } catch (const agent::AgentError& e) {
      EXPECT_EQ(e.code(), agent::ExitCode::kUsage);
    }
  }
}

TEST(ProbeOptions, SidecarPath) {
  EXPECT_EQ(sidecar_path(options(ProbeKind::kReady)), "/readyz");
  auto ready = options(ProbeKind::kReady, 1000);
  ready.max_lag_given = true;
  EXPECT_EQ(sidecar_path(ready), "/readyz?lag=1000");
  EXPECT_EQ(sidecar_path(options(ProbeKind::kLive)), "/healthz");
  EXPECT_EQ(sidecar_path(options(ProbeKind::kPrimary)), "/primary");
  EXPECT_EQ(sidecar_path(options(ProbeKind::kReplica, 16)), "/replica?lag=16");
}

TEST(ProbeOptions, Line) {
  EXPECT_EQ(probe_line(options(ProbeKind::kReady), ProbeResult{true, "fine"}), "ready ok: fine");
  EXPECT_EQ(probe_line(options(ProbeKind::kReplica), ProbeResult{false, "lag"}),
            "replica failed: lag");
}

}  // namespace
}  // namespace replagent::probes
