// What the endpoints tell a caller who is not trusted (they are open to anyone who reaches the
// pod): request bytes echoed escaped and bounded, server errors reduced to a category, /status
// in full only with the bearer token.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

#include "probes/routes.hpp"
#include "test/unit/routes_fixture.hpp"

namespace replagent::probes {
namespace {

using namespace std::chrono_literals;
using routes_test::kNow;
using routes_test::primary;
using routes_test::replica;

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
  ctx.params.last_init = LastInit{"initdb", "", 1700000000,
                                  "initialised a new primary in /var/lib/postgresql/data/pgdata"};
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

}  // namespace
}  // namespace replagent::probes
