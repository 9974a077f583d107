#pragma once

// What each sidecar endpoint answers, decided from the latest snapshot. Pure functions: no
// sockets, no clock reads, no libpq. The HTTP server maps a Decision to status + body.
//
// Routing endpoints keep Patroni's semantics (patroni/api.py, do_GET) so HAProxy
// `option httpchk` configs written for Patroni work unchanged: /primary 200 only on a
// writable primary; /replica 200 on a running replica within ?lag=; /read-only 200 when
// /primary or /replica would be; 503 otherwise. Three deliberate differences: a malformed
// ?lag= is 400 (Patroni silently ignores it, which turns a typo into "no lag limit"), a
// replica must be streaming (Patroni asks that only with ?replication_state=streaming), and
// an unknown lag is 503, not 200 (the replica's WAL receiver is the only source of the
// primary's position, and it is unknown only when that receiver has gone silent: snapshot.hpp,
// primary_view()).
//
// What anyone on the network may read. The listener binds 0.0.0.0 for the kubelet, HAProxy and
// Prometheus, none of which authenticates, so no answer carries libpq's or the OS's words
// (addresses, user names, socket and data directory paths): a failure is reduced to its
// category (error_category), and request bytes echoed in a 400/404/405 are escaped
// (escape_for_echo). Only /status has more to say, to a caller holding sidecar.status_token:
//   - no token configured: everyone gets the reduced document;
//   - token configured, `Authorization: Bearer <token>` matches (constant-time): the full
//     document, with the poller's error texts as they are;
//   - token configured, header missing, malformed or wrong: the reduced document, 200, not
//     401. Probes and dashboards that poll /status keep working when a token is added; a
//     401 would only tell an attacker that guessing is worth it.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/secret.hpp"
#include "probes/snapshot.hpp"

namespace replagent::probes {

struct Decision {
  int status = 503;    // 200, 503, or 400 for a bad request
  std::string reason;  // one line, the response body; the probe command prints it
  bool ok() const { return status == 200; }
};

// What the last `replagent init` did with the volume (PGDATA/replagent.last-init; the file is
// roles/init_record.hpp's, read once at start by the composition root).
struct LastInit {
  std::string action;     // initdb, clone, reclone, kept, refreshed
  std::string reason;     // e.g. slot_wal_removed; may be empty
  std::int64_t time = 0;  // Unix seconds
  std::string message;    // one line
};

struct RouteParams {
  std::chrono::milliseconds poll_interval{2000};
  std::uint64_t max_lag = 16ULL * 1000 * 1000;  // sidecar.max_lag
  // sidecar.disconnected_grace: /readyz only (not /replica, which keeps Patroni's meaning for
  // HAProxy): a replica whose WAL receiver stopped streaming, or went silent (lag unknown),
  // stays ready this long after it last heard from the primary (Snapshot::last_streaming_at),
  // so -ro keeps its endpoints while the primary restarts.
  std::chrono::milliseconds disconnected_grace{5 * 60 * 1000};
  std::string pod_name;
  std::optional<int> ordinal;
  // What the last init did with the volume (PGDATA/replagent.last-init), read at start.
  std::optional<LastInit> last_init;
  // sidecar.status_token; empty: /status is always the reduced document.
  agent::Secret status_token;
};

// The poller's liveness, as the HTTP thread sees it.
struct PollerHealth {
  bool running = true;
  std::string stopped_reason;
  // Set while a poll is in progress: when it started.
  std::optional<std::chrono::steady_clock::time_point> poll_started;
};

// A snapshot older than this many poll intervals counts as unknown (DESIGN.md "sidecar").
inline constexpr int kStaleIntervals = 3;
// A single poll running longer than this means the poller is wedged: every connection
// attempt and query it makes is bounded by a client-side deadline (ConnParams::io_timeout,
// far below this), so a stopped/frozen server makes polls fail with "timeout" (readiness),
// never reach this (liveness). Only a bug gets here; restarting the sidecar is the cure.
inline constexpr std::chrono::seconds kWedgedPoll{60};

// "/replica?lag=1MB&x=%20y" -> {"/replica", {lag: 1MB, x: " y"}}; nullopt for a target that
// is not origin-form or has a bad %-escape.
struct Target {
  std::string path;
  std::map<std::string, std::string> query;
};
std::optional<Target> parse_target(std::string_view target);

// The ?lag= limit: absent -> fallback; a size (agent::parse_size: 1048576, 16MB, 1GiB) ->
// bytes; anything else -> a 400 Decision.
struct LagLimit {
  std::uint64_t bytes = 0;
  std::optional<Decision> error;
};
LagLimit parse_lag(const std::map<std::string, std::string>& query, std::uint64_t fallback);

using SteadyTime = std::chrono::steady_clock::time_point;

// nullopt when the snapshot is fresh enough to decide from, else the 503.
std::optional<Decision> staleness(const Snapshot* s, SteadyTime now, const RouteParams& p);

Decision decide_healthz(const Snapshot* s, SteadyTime now, const RouteParams& p,
                        const PollerHealth& health);
Decision decide_readyz(const Snapshot* s, SteadyTime now, const RouteParams& p,
                       std::uint64_t max_lag);
Decision decide_primary(const Snapshot* s, SteadyTime now, const RouteParams& p);
Decision decide_replica(const Snapshot* s, SteadyTime now, const RouteParams& p,
                        std::uint64_t max_lag,
                        const std::optional<std::string>& replication_state = std::nullopt);
Decision decide_read_only(const Snapshot* s, SteadyTime now, const RouteParams& p,
                          std::uint64_t max_lag);

// The category of a failure text from the poller or libpq, safe to show anyone: "timeout",
// "authentication failed", "connection refused", "starting up", "shutting down",
// "too many connections", "name resolution failed", "unreachable", "connection lost",
// "permission denied", "primary unknown", "not streaming", "primary silent",
// "no primary position", else "error"; "no answer" for an empty text.
// Recognised by SQLSTATE and by libpq's and our own fixed phrases, never by copying text.
std::string error_category(std::string_view error_text);

// Request bytes (a path, a method, a query value) made safe to echo in a plain-text body:
// printable ASCII other than % " ' < > \ ` & stays, every other byte becomes %XX (upper-case
// hex); at most kMaxEchoBytes of output, then "...".
inline constexpr std::size_t kMaxEchoBytes = 96;
std::string escape_for_echo(std::string_view raw);

// True when `authorization` (the Authorization header's value) is `Bearer <token>` (scheme
// case-insensitive, RFC 6750) and token is set. The comparison takes time that depends on the
// presented credential's length only, not on where it first differs from the token.
bool bearer_token_matches(std::string_view authorization, const agent::Secret& token);

// The /status document (JSON). 64-bit values that JavaScript cannot hold exactly
// (system_identifier) are strings; LSNs are PostgreSQL's "X/Y" text. kReduced replaces the
// error texts (server_error, primary_error) by their error_category and the last init's
// message (it names the data directory) by null; the shape stays the same.
enum class StatusDetail { kFull, kReduced };
std::string status_json(const Snapshot* s, SteadyTime now, const RouteParams& p,
                        StatusDetail detail);

// --- the whole HTTP surface, transport-free ---

struct Request {
  std::string method;           // "GET"
  std::string target;           // "/replica?lag=1MB"
  std::string authorization{};  // the Authorization header's value; empty when absent
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct RouteContext {
  std::shared_ptr<const Snapshot> snapshot;
  SteadyTime now;
  RouteParams params;
  PollerHealth health;
  std::function<std::string()> render_metrics;  // the /metrics body
};

// Header set on answers computed from a stale (or missing) snapshot: the probe command then
// checks the server itself instead of trusting a poller that is behind.
inline constexpr const char* kStaleHeader = "X-Replagent-Stale";

Response respond(const Request& request, const RouteContext& ctx);

}  // namespace replagent::probes
