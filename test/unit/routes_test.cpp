// Snapshot -> endpoint answers, table-driven over every route and status code. What an
// untrusted caller may see in the answers is routes_privacy_test.cpp's.
#include "probes/routes.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "test/unit/routes_fixture.hpp"

namespace replagent::probes {
namespace {

using namespace std::chrono_literals;
using routes_test::kNow;
using routes_test::primary;
using routes_test::replica;

struct Case {
  const char* name;
  std::function<Snapshot()> snapshot;  // nullptr: nothing polled yet
  std::string method;
  std::string target;
  int status;
  std::string reason_part;
  std::function<void(PollerHealth&)> health = nullptr;
};

const Case kCases[] = {
    // A writable primary.
    {"primary_primary", primary, "GET", "/primary", 200, "writable primary"},
    {"primary_root_is_primary", primary, "GET", "/", 200, "writable primary"},
    {"primary_master_alias", primary, "GET", "/master", 200, "writable primary"},
    {"primary_read_write_alias", primary, "GET", "/read-write", 200, "writable primary"},
    {"primary_replica", primary, "GET", "/replica", 503, "not a replica: server is primary"},
    {"primary_read_only", primary, "GET", "/read-only", 200, "writable primary"},
    {"primary_read_only_lag_ignored", primary, "GET", "/read-only?lag=0", 200, "writable"},
    {"primary_readyz", primary, "GET", "/readyz", 200, "primary accepts connections"},
    {"primary_readyz_never_waits_for_replicas",
     [] {
       auto s = primary();
       s.replicas.clear();
       return s;
     },
     "GET", "/readyz", 200, "primary"},
    {"primary_healthz", primary, "GET", "/healthz", 200, "agent alive"},
    // Replicas.
    {"replica_replica", [] { return replica(); }, "GET", "/replica", 200, "replay lag 0 bytes"},
    {"replica_async_alias", [] { return replica(); }, "GET", "/async", 200, "streaming"},
    {"replica_primary", [] { return replica(); }, "GET", "/primary", 503, "not a primary"},
    {"replica_read_only", [] { return replica(); }, "GET", "/read-only", 200, "streaming"},
    {"replica_readyz", [] { return replica(); }, "GET", "/readyz", 200, "streaming"},
    {"replica_lag_within_default", [] { return replica(2'000'000); }, "GET", "/replica", 200,
     "replay lag 2000000 bytes (limit 16MB)"},
    {"replica_lag_over_query", [] { return replica(2'000'000); }, "GET", "/replica?lag=1MB", 503,
     "replay lag 2000000 bytes exceeds 1MB"},
    {"replica_lag_equal_limit_ok", [] { return replica(1'000'000); }, "GET", "/replica?lag=1MB",
     200, "streaming"},
    {"replica_lag_bytes_number", [] { return replica(2048); }, "GET", "/replica?lag=2047", 503,
     "exceeds"},
    {"replica_lag_binary_unit", [] { return replica(1 << 20); }, "GET", "/replica?lag=1MiB", 200,
     "streaming"},
    {"replica_lag_over_default", [] { return replica(20'000'000); }, "GET", "/readyz", 503,
     "exceeds 16MB"},
    {"read_only_lag_over", [] { return replica(2'000'000); }, "GET", "/read-only?lag=1MB", 503,
     "exceeds"},
    {"readyz_lag_query", [] { return replica(2'000'000); }, "GET", "/readyz?lag=1MB", 503,
     "exceeds"},
    {"replica_not_streaming",
     [] {
       auto s = replica();
       s.wal_receiver_status.clear();
       return s;
     },
     "GET", "/replica", 503, "WAL receiver not running"},
    {"replica_waiting",
     [] {
       auto s = replica();
       s.wal_receiver_status = "waiting";
       return s;
     },
     "GET", "/readyz", 503, "WAL receiver waiting"},
    // sidecar.disconnected_grace (5m here): a replica that streamed 2 minutes ago stays ready
    // while the primary is away (reads through -ro go on); /replica keeps Patroni's meaning.
    {"readyz_disconnected_within_grace",
     [] {
       auto s = replica();
       s.wal_receiver_status.clear();
       s.last_streaming_at = kNow - 120s;
       return s;
     },
     "GET", "/readyz", 200, "still ready for sidecar.disconnected_grace (5m)"},
    {"replica_disconnected_within_grace_is_not_a_replica_route",
     [] {
       auto s = replica();
       s.wal_receiver_status.clear();
       s.last_streaming_at = kNow - 120s;
       return s;
     },
     "GET", "/replica", 503, "WAL receiver not running"},
    {"readyz_disconnected_past_grace",
     [] {
       auto s = replica();
       s.wal_receiver_status = "waiting";
       s.last_streaming_at = kNow - 301s;
       return s;
     },
     "GET", "/readyz", 503, "WAL receiver waiting"},
    {"readyz_never_streamed_no_grace",
     [] {
       auto s = replica();
       s.wal_receiver_status.clear();
       return s;
     },
     "GET", "/readyz", 503, "WAL receiver not running"},
    {"readyz_disconnected_server_down_no_grace",
     [] {
       auto s = replica();
       s.wal_receiver_status.clear();
       s.server_up = false;
       s.server_error = "connection refused";
       s.last_streaming_at = kNow - 10s;
       return s;
     },
     "GET", "/readyz", 503, "not accepting connections"},
    {"replication_state_match", [] { return replica(); }, "GET",
     "/replica?replication_state=streaming", 200, "streaming"},
    {"replication_state_mismatch", [] { return replica(); }, "GET",
     "/replica?replication_state=catchup", 503, "not catchup"},
    // Streaming, but the WAL receiver has heard nothing from the primary for longer than a live
    // sender stays silent (primary_view()): the replica may be any distance behind. Unlike
    // Patroni (200 without a primary position), /replica says no; /readyz keeps the grace,
    // counted from the last message.
    {"replica_lag_unknown",
     [] {
       auto s = replica();
       s.primary_lsn.reset();
       s.latest_end_lsn.reset();
       return s;
     },
     "GET", "/replica?lag=1GB", 503, "replica lag unknown: no primary position"},
    {"replica_silent_primary",
     [] {
       auto s = replica();
       s.latest_end_lsn = s.primary_lsn;
       s.primary_lsn.reset();
       s.primary_error =
           primary_view("streaming", s.latest_end_lsn, 40.0, std::chrono::milliseconds(60000))
               .unknown;
       s.last_streaming_at = kNow - 41s;
       return s;
     },
     "GET", "/replica?lag=1GB", 503,
     "replica lag unknown: WAL receiver silent: nothing heard from the primary for 40.0s"},
    {"read_only_silent_primary",
     [] {
       auto s = replica();
       s.primary_lsn.reset();
       s.primary_error = "WAL receiver silent: nothing heard from the primary for 40.0s";
       return s;
     },
     "GET", "/read-only", 503, "replica lag unknown"},
    {"readyz_silent_primary_within_grace",
     [] {
       auto s = replica();
       s.primary_lsn.reset();
       s.primary_error = "WAL receiver silent: nothing heard from the primary for 40.0s";
       s.last_streaming_at = kNow - 41s;
       return s;
     },
     "GET", "/readyz", 200,
     "replica lag unknown (WAL receiver silent: nothing heard from the primary for 40.0s) for "
     "41s: still ready for sidecar.disconnected_grace (5m) after it last heard from the "
     "primary"},
    {"readyz_silent_primary_past_grace",
     [] {
       auto s = replica();
       s.primary_lsn.reset();
       s.primary_error = "WAL receiver silent: nothing heard from the primary for 302.0s";
       s.last_streaming_at = kNow - 302s;
       return s;
     },
     "GET", "/readyz", 503, "replica lag unknown: WAL receiver silent"},
    // The server down: routing says no, liveness stays up.
    {"down_readyz",
     [] {
       auto s = primary();
       s.server_up = false;
       s.server_error =
           "connection to server at \"10.0.0.7\", port 5432 failed: Connection refused";
       return s;
     },
     "GET", "/readyz", 503, "not accepting connections: connection refused"},
    {"down_primary",
     [] {
       auto s = primary();
       s.server_up = false;
       return s;
     },
     "GET", "/primary", 503, "not accepting connections"},
    {"down_healthz",
     [] {
       auto s = primary();
       s.server_up = false;
       return s;
     },
     "GET", "/healthz", 200, "agent alive"},
    // Stale or missing snapshots.
    {"stale_primary",
     [] {
       auto s = primary();
       s.taken_at = kNow - 6001ms;
       return s;
     },
     "GET", "/primary", 503, "stale snapshot: last poll 6.0s ago (limit 6s)"},
    {"fresh_at_limit",
     [] {
       auto s = primary();
       s.taken_at = kNow - 6s;
       return s;
     },
     "GET", "/primary", 200, "writable"},
    {"stale_replica",
     [] {
       auto s = replica();
       s.taken_at = kNow - 10s;
       return s;
     },
     "GET", "/replica", 503, "stale"},
    {"stale_healthz_still_alive",
     [] {
       auto s = primary();
       s.taken_at = kNow - 10s;
       return s;
     },
     "GET", "/healthz", 200, "agent alive"},
    {"no_snapshot_readyz", nullptr, "GET", "/readyz", 503, "no poll has completed yet"},
    {"no_snapshot_healthz", nullptr, "GET", "/healthz", 200, "first poll in progress"},
    // Poller health.
    {"poller_stopped", primary, "GET", "/healthz", 503, "poller stopped: error",
     [](PollerHealth& h) {
       h.running = false;
       h.stopped_reason = "boom";
     }},
    {"poller_wedged", primary, "GET", "/healthz", 503, "poller stuck",
     [](PollerHealth& h) { h.poll_started = kNow - 61s; }},
    {"poller_slow_not_wedged", primary, "GET", "/healthz", 200, "alive",
     [](PollerHealth& h) { h.poll_started = kNow - 5s; }},
    // Bad requests.
    {"bad_lag_word", [] { return replica(); }, "GET", "/replica?lag=abc", 400, "bad lag 'abc'"},
    {"bad_lag_negative", [] { return replica(); }, "GET", "/read-only?lag=-1", 400, "bad lag"},
    {"bad_lag_empty", [] { return replica(); }, "GET", "/readyz?lag=", 400, "bad lag ''"},
    {"bad_lag_on_primary_too", primary, "GET", "/read-only?lag=1x", 400, "bad lag"},
    {"bad_escape", primary, "GET", "/replica?lag=%zz", 400, "bad request target"},
    {"not_origin_form", primary, "GET", "http://x/primary", 400, "bad request target"},
    {"unknown_path", primary, "GET", "/nope", 404, "no such endpoint /nope"},
    {"post", primary, "POST", "/primary", 405, "method POST not allowed"},
    {"head", primary, "HEAD", "/primary", 200, "writable primary"},
};

class RoutesTest : public ::testing::TestWithParam<Case> {};

TEST_P(RoutesTest, Answers) {
  const Case& c = GetParam();
  RouteContext ctx;
  if (c.snapshot) ctx.snapshot = std::make_shared<const Snapshot>(c.snapshot());
  ctx.now = kNow;
  ctx.params.poll_interval = 2s;
  ctx.params.max_lag = 16'000'000;
  ctx.params.disconnected_grace = 5min;
  if (c.health) c.health(ctx.health);
  const Response r = respond(Request{c.method, c.target}, ctx);
  EXPECT_EQ(r.status, c.status) << r.body;
  EXPECT_NE(r.body.find(c.reason_part), std::string::npos) << r.body;
}

INSTANTIATE_TEST_SUITE_P(Table, RoutesTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Routes, StaleAnswersCarryTheStaleHeader) {
  RouteContext ctx;
  auto s = primary();
  s.taken_at = kNow - 1h;
  ctx.snapshot = std::make_shared<const Snapshot>(s);
  ctx.now = kNow;
  const Response r = respond(Request{"GET", "/readyz"}, ctx);
  ASSERT_EQ(r.status, 503);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, kStaleHeader);
  ctx.snapshot = std::make_shared<const Snapshot>(primary());
  EXPECT_TRUE(respond(Request{"GET", "/replica"}, ctx).headers.empty());
}

TEST(Routes, OptionsAnswersStatusOnly) {
  RouteContext ctx;
  ctx.snapshot = std::make_shared<const Snapshot>(replica());
  ctx.now = kNow;
  EXPECT_EQ(respond(Request{"OPTIONS", "/primary"}, ctx).status, 503);
  const Response r = respond(Request{"OPTIONS", "/replica"}, ctx);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());
}

TEST(Routes, MetricsAndStatus) {
  RouteContext ctx;
  ctx.snapshot = std::make_shared<const Snapshot>(primary());
  ctx.now = kNow;
  ctx.params.pod_name = "db-0";
  ctx.params.ordinal = 0;
  ctx.render_metrics = [] { return std::string("replagent_up 1\n"); };
  const Response m = respond(Request{"GET", "/metrics"}, ctx);
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.body, "replagent_up 1\n");
  EXPECT_EQ(m.content_type, "text/plain; version=0.0.4; charset=utf-8");
  const Response st = respond(Request{"GET", "/status"}, ctx);
  EXPECT_EQ(st.status, 200);
  EXPECT_EQ(st.content_type, "application/json");
  for (const char* part : {"\"pod\":\"db-0\"", "\"ordinal\":0", "\"role\":\"primary\"",
                           "\"stale\":false", "\"system_identifier\":\"7712161188363855152\"",
                           "\"current\":\"0/3000060\"", "\"application_name\":\"db-1\"",
                           "\"replay\":10", "\"write\":0,", "\"retained_bytes\":4096"}) {
    EXPECT_NE(st.body.find(part), std::string::npos) << part << " in " << st.body;
  }
}

TEST(Routes, StatusWithoutSnapshotIsValidAndSaysWhy) {
  RouteContext ctx;
  ctx.now = kNow;
  ctx.params.pod_name = "x\"y";
  const Response st = respond(Request{"GET", "/status"}, ctx);
  EXPECT_EQ(st.body,
            "{\"pod\":\"x\\\"y\",\"ordinal\":null,\"stale\":true,\"stale_reason\":\"no poll has "
            "completed yet\",\"role\":\"unknown\"}");
}

struct TargetCase {
  std::string target;
  bool valid;
  std::string path;
  std::map<std::string, std::string> query;
};

TEST(Routes, ParseTarget) {
  const TargetCase cases[] = {
      {"/replica", true, "/replica", {}},
      {"/replica?lag=1MB", true, "/replica", {{"lag", "1MB"}}},
      {"/replica?lag=1MB&lag=2MB", true, "/replica", {{"lag", "1MB"}}},
      {"/replica?a=1&&b=%20x+y", true, "/replica", {{"a", "1"}, {"b", " x y"}}},
      {"/replica?flag", true, "/replica", {{"flag", ""}}},
      {"/re%70lica", true, "/replica", {}},
      {"/replica?", true, "/replica", {}},
      {"/x?lag=%2", false, "", {}},
      {"/x?lag=%g0", false, "", {}},
      {"", false, "", {}},
      {"replica", false, "", {}},
  };
  for (const auto& c : cases) {
    const auto t = parse_target(c.target);
    ASSERT_EQ(t.has_value(), c.valid) << c.target;
    if (!t) continue;
    EXPECT_EQ(t->path, c.path) << c.target;
    EXPECT_EQ(t->query, c.query) << c.target;
  }
}

TEST(Routes, ParseLag) {
  EXPECT_EQ(parse_lag({}, 42).bytes, 42u);
  EXPECT_EQ(parse_lag({{"lag", "0"}}, 42).bytes, 0u);
  EXPECT_EQ(parse_lag({{"lag", "16MB"}}, 42).bytes, 16'000'000u);
  EXPECT_EQ(parse_lag({{"lag", "1GiB"}}, 42).bytes, 1ULL << 30);
  EXPECT_EQ(parse_lag({{"lag", "1048576"}}, 42).bytes, 1048576u);
  const auto bad = parse_lag({{"lag", "lots"}}, 42);
  ASSERT_TRUE(bad.error);
  EXPECT_EQ(bad.error->status, 400);
}

}  // namespace
}  // namespace replagent::probes
