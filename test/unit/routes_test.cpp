// Snapshot -> endpoint answers, table-driven over every route and status code.
#include "probes/routes.hpp"

#include <gtest/gtest.h>

#include <functional>

namespace replagent::probes {
namespace {

using namespace std::chrono_literals;

const SteadyTime kNow = SteadyTime() + 1000s;

Snapshot primary() {
  Snapshot s;
  s.sequence = 7;
  s.taken_at = kNow - 500ms;
  s.server_up = true;
  s.role = Role::kPrimary;
  s.system_identifier = 7712161188363855152ULL;
  s.timeline = 1;
  s.current_lsn = 0x3000060;
  s.replicas.push_back(
      ReplicaRow{"db-1", "streaming", 0, 0, 0, 10, std::nullopt, std::nullopt, 0.5});
  s.slots.push_back(SlotRow{"db_1", true, 4096});
  return s;
}

// A streaming replica `lag` bytes behind the primary's position.
Snapshot replica(std::uint64_t lag = 0) {
  Snapshot s;
  s.sequence = 3;
  s.taken_at = kNow - 1s;
  s.server_up = true;
  s.role = Role::kReplica;
  s.in_recovery = true;
  s.primary_lsn = 0x5000000;
  s.receive_lsn = 0x5000000;
  s.replay_lsn = 0x5000000 - lag;
  s.wal_receiver_status = "streaming";
  return s;
}

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

// Nothing a client sent comes back raw: the 404, 405 and 400 bodies carry printable ASCII
// only (the rest %XX-escaped) and are bounded whatever the request's size.
bool printable_line(const std::string& body) {
  if (body.empty() || body.back() != '\n') return false;
  for (std::size_t i = 0; i + 1 < body.size(); ++i) {
    if (body[i] < 0x20 || body[i] > 0x7e) return false;
  }
  return true;
}

TEST(Routes, EchoedRequestBytesAreEscapedAndBounded) {
  RouteContext ctx;
  ctx.snapshot = std::make_shared<const Snapshot>(replica());
  ctx.now = kNow;
  const std::string huge_path = "/" + std::string(10000, 'a');
  const struct {
    std::string method, target;
    int status;
    std::string want;  // a part of the body
  } cases[] = {
      {"GET", "/%1b[2J%00%ff%0d%0aSet-Cookie:x", 404,
       "no such endpoint /%1B[2J%00%FF%0D%0ASet-Cookie:x "},
      {"GET", "/<script>", 404, "no such endpoint /%3Cscript%3E "},
      {"GET", "/100%25", 404, "no such endpoint /100%25 "},
      {"GET", huge_path, 404, "no such endpoint /aaaa"},
      {"G\x01T\xff", "/primary", 405, "method G%01T%FF not allowed"},
      {"GET", "/replica?lag=%0d%0a%1b1MB", 400, "bad lag '%0D%0A%1B1MB'"},
      {"GET", "/replica?replication_state=%ff%0a<b>", 503,
       "replication state is streaming, not %FF%0A%3Cb%3E"},
  };
  for (const auto& c : cases) {
    const Response r = respond(Request{c.method, c.target}, ctx);
    EXPECT_EQ(r.status, c.status) << r.body;
    EXPECT_TRUE(printable_line(r.body)) << r.body;
    EXPECT_NE(r.body.find(c.want), std::string::npos) << r.body;
    EXPECT_LT(r.body.size(), 300u) << c.target.substr(0, 40);
  }
}

// The routing endpoints are open to anyone who reaches the pod: a 503 names the category of
// the local server's failure, never libpq's text (addresses, user names, socket paths).
TEST(Routes, ServerErrorsAreReducedToACategory) {
  const std::string who = "cannot connect to replagent_monitor@10.1.2.3:5432: ";
  const std::string at = "connection to server at \"10.1.2.3\", port 5432 failed: ";
  const struct {
    std::string error;
    std::string category;
  } cases[] = {
      {who + at + "Connection refused", "connection refused"},
      {who + "connection to server on socket \"/run/pg/.s.PGSQL.5432\" failed: No such file or "
             "directory",
       "connection refused"},
      {who + "no answer within 750ms while connecting (server stopped or overloaded?) (retrying)",
       "timeout"},
      {"status query failed: ERROR:  canceling statement due to statement timeout (SQLSTATE "
       "57014)",
       "timeout"},
      {"status query failed: connection to replagent_monitor@10.1.2.3:5432 was closed after an "
       "earlier timeout",
       "timeout"},
      {who + at +
           "FATAL:  password authentication failed for user \"replagent_monitor\" "
           "(SQLSTATE 28P01)",
       "authentication failed"},
      {who + at +
           "FATAL:  no pg_hba.conf entry for host \"10.9.9.9\", user \"replagent_monitor\", "
           "database \"postgres\", no encryption (SQLSTATE 28000)",
       "authentication failed"},
      {who + at + "fe_sendauth: no password supplied", "authentication failed"},
      {who + at + "FATAL:  the database system is starting up (SQLSTATE 57P03)", "starting up"},
      {who + at + "FATAL:  the database system is shutting down (SQLSTATE 57P03)", "shutting down"},
      {who + at + "FATAL:  sorry, too many clients already (SQLSTATE 53300)",
       "too many connections"},
      {who + "could not translate host name \"db-0.db\" to address: Name or service not known",
       "name resolution failed"},
      {who + at + "No route to host", "unreachable"},
      {"status query failed: server closed the connection unexpectedly", "connection lost"},
      {"status query failed: ERROR:  permission denied for function pg_ls_waldir (SQLSTATE "
       "42501)",
       "permission denied"},
      {"unexpected result shape from the status query", "error"},
      {who + at + "SSL error: certificate verify failed at /etc/ssl/x.pem", "error"},
      {"", "no answer"},
  };
  for (const auto& c : cases) {
    auto s = primary();
    s.server_up = false;
    s.server_error = c.error;
    RouteContext ctx;
    ctx.snapshot = std::make_shared<const Snapshot>(s);
    ctx.now = kNow;
    for (const char* path : {"/readyz", "/primary", "/replica", "/read-only"}) {
      const Response r = respond(Request{"GET", path}, ctx);
      EXPECT_EQ(r.status, 503) << path;
      EXPECT_EQ(r.body, "postgres is not accepting connections: " + c.category + "\n")
          << path << " for " << c.error;
    }
    const Response st = respond(Request{"GET", "/status"}, ctx);
    if (!c.error.empty()) {
      EXPECT_NE(st.body.find("\"server_error\":\"" + c.category + "\""), std::string::npos)
          << st.body;
    }
    for (const char* leak : {"10.1.2.3", "replagent_monitor", "/run/pg", "SQLSTATE", "db-0"}) {
      EXPECT_EQ(st.body.find(leak), std::string::npos) << leak << " in " << st.body;
    }
  }
}

// The same for what /status says about the primary (a replica's view) and about the last
// init (its message names the data directory), without a token.
TEST(Routes, StatusWithoutTokenHidesPrimaryErrorsAndPaths) {
  auto s = replica();
  s.primary_lsn.reset();
  s.primary_silence_seconds = 40.0;
  s.primary_error =
      primary_view("streaming", 0x5000000, 40.0, std::chrono::milliseconds(60000)).unknown;
  RouteContext ctx;
  ctx.snapshot = std::make_shared<const Snapshot>(s);
  ctx.now = kNow;
  ctx.params.last_init = LastInit{
      "initdb", "", 1700000000, "initialised a new primary in /var/lib/postgresql/data/pgdata"};
  std::string body = respond(Request{"GET", "/status"}, ctx).body;
  EXPECT_NE(body.find("\"primary_error\":\"primary silent\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"primary_silence_seconds\":40.000"), std::string::npos) << body;
  EXPECT_NE(body.find("\"lag_bytes\":{\"receive\":null,\"replay\":null}"), std::string::npos)
      << body;
  EXPECT_NE(body.find("\"action\":\"initdb\""), std::string::npos) << body;
  for (const char* leak : {"/var/lib", "wal_receiver_timeout"}) {
    EXPECT_EQ(body.find(leak), std::string::npos) << leak << " in " << body;
  }
  for (const auto& [text, category] :
       {std::pair{std::string("WAL receiver not running"), "not streaming"},
        std::pair{primary_view("waiting", 1, 0.0, std::nullopt).unknown, "not streaming"},
        std::pair{primary_view("streaming", std::nullopt, 0.0, std::nullopt).unknown,
                  "no primary position"}}) {
    s.primary_error = text;
    ctx.snapshot = std::make_shared<const Snapshot>(s);
    body = respond(Request{"GET", "/status"}, ctx).body;
    EXPECT_NE(body.find("\"primary_error\":\"" + std::string(category) + "\""), std::string::npos)
        << text << ": " << body;
  }
}

// With sidecar.status_token set, the bearer of that token gets the texts as they are; any
// other caller (no header, another scheme, a wrong or partial token) gets the reduced
// document with 200, like a pod without a token, so probes and dashboards keep working.
TEST(Routes, StatusInFullOnlyWithTheBearerToken) {
  auto s = primary();
  s.server_up = false;
  s.server_error =
      "cannot connect to replagent_monitor@10.1.2.3:5432: connection to server at \"10.1.2.3\", "
      "port 5432 failed: Connection refused";
  RouteContext ctx;
  ctx.snapshot = std::make_shared<const Snapshot>(s);
  ctx.now = kNow;
  ctx.params.last_init = LastInit{"initdb", "", 1700000000, "initialised in /data/pg"};
  const std::string full_error = "\"server_error\":\"cannot connect to replagent_monitor@10.1.2.3";
  const std::string reduced_error = "\"server_error\":\"connection refused\"";
  const auto status = [&](const std::string& authorization) {
    const Response r = respond(Request{"GET", "/status", authorization}, ctx);
    EXPECT_EQ(r.status, 200) << authorization;
    return r.body;
  };
  // No token configured: even a well-formed bearer header gets the reduced document.
  EXPECT_NE(status("Bearer s3cret-token").find(reduced_error), std::string::npos);

  ctx.params.status_token = agent::Secret("s3cret-token");
  for (const char* good : {"Bearer s3cret-token", "bearer s3cret-token", "BEARER  s3cret-token "}) {
    const std::string body = status(good);
    EXPECT_NE(body.find(full_error), std::string::npos) << good << ": " << body;
    EXPECT_NE(body.find("\"message\":\"initialised in /data/pg\""), std::string::npos) << body;
  }
  for (const char* bad :
       {"", "Bearer", "Bearer ", "Bearer s3cret-toke", "Bearer s3cret-token2",
        "Bearer S3CRET-TOKEN", "Basic czNjcmV0LXRva2Vu", "s3cret-token", "Bearers3cret-token",
        "Token s3cret-token", "Bearer s3cret-tokens3cret-token"}) {
    const std::string body = status(bad);
    EXPECT_NE(body.find(reduced_error), std::string::npos) << "'" << bad << "': " << body;
    EXPECT_NE(body.find("\"message\":null"), std::string::npos) << body;
    EXPECT_EQ(body.find("10.1.2.3"), std::string::npos) << body;
  }
  // The token opens /status only: the routing endpoints say the category to everyone.
  EXPECT_EQ(respond(Request{"GET", "/readyz", "Bearer s3cret-token"}, ctx).body,
            "postgres is not accepting connections: connection refused\n");
}

TEST(Routes, BearerTokenMatches) {
  const agent::Secret token("abc");
  EXPECT_TRUE(bearer_token_matches("Bearer abc", token));
  EXPECT_TRUE(bearer_token_matches("bEaReR abc", token));
  EXPECT_FALSE(bearer_token_matches("Bearer abcabc", token));  // cycled comparison, longer
  EXPECT_FALSE(bearer_token_matches("Bearer ab", token));
  EXPECT_FALSE(bearer_token_matches("Bearer abd", token));
  EXPECT_FALSE(bearer_token_matches("Bearer\tabc", token));
  EXPECT_FALSE(bearer_token_matches("Bearer abc", agent::Secret()));
  EXPECT_FALSE(bearer_token_matches("Bearer ", agent::Secret()));
}

// A poller that stopped on an exception: liveness fails, but the exception's text stays in
// the log.
TEST(Routes, PollerStoppedReasonIsReduced) {
  RouteContext ctx;
  ctx.snapshot = std::make_shared<const Snapshot>(primary());
  ctx.now = kNow;
  ctx.health.running = false;
  ctx.health.stopped_reason = "cannot read /etc/replagent/secret: Permission denied";
  const Response r = respond(Request{"GET", "/healthz"}, ctx);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "poller stopped: permission denied\n");
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
