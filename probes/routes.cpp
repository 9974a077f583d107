#include "probes/routes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include "agent/units.hpp"

namespace replagent::probes {
namespace {

Decision ok(std::string reason) { return Decision{200, std::move(reason)}; }
Decision unavailable(std::string reason) { return Decision{503, std::move(reason)}; }

double seconds_between(SteadyTime from, SteadyTime to) {
  return std::chrono::duration<double>(to - from).count();
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out.push_back(' ');
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

// The server must answer and be the role the route asks about; these come first everywhere.
std::optional<Decision> require_up(const Snapshot* s, SteadyTime now, const RouteParams& p) {
  if (auto stale = staleness(s, now, p)) return stale;
  if (!s->server_up) {
    return unavailable("postgres is not accepting connections: " + error_category(s->server_error));
  }
  return std::nullopt;
}

// Why a streaming replica's lag is unknown: primary_view()'s reason, else what is missing.
std::string lag_unknown_reason(const Snapshot& s) {
  if (!s.primary_error.empty()) return s.primary_error;
  return s.replay_lsn ? "no primary position" : "nothing replayed yet";
}

bool contains_nocase(std::string_view text, std::string_view part) {
  return std::search(text.begin(), text.end(), part.begin(), part.end(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         }) != text.end();
}

// First match wins: an authentication failure is named by its SQLSTATE before any phrase,
// and a timeout before "connection lost" (a session closed after a timeout says both).
struct CategoryRule {
  const char* category;
  std::array<const char*, 5> phrases;  // nullptr-padded
};
constexpr CategoryRule kCategoryRules[] = {
    // A replica's view of the primary (snapshot.hpp, primary_view()); first, since its text
    // names wal_receiver_timeout.
    {"not streaming", {"WAL receiver not running", ", not streaming", nullptr}},
    {"primary silent", {"WAL receiver silent", nullptr}},
    {"no primary position", {"no message from the primary", nullptr}},
    {"authentication failed",
     {"SQLSTATE 28P01", "SQLSTATE 28000", "authentication failed", "no password supplied",
      "pg_hba.conf"}},
    // Our client-side deadline ("no answer within"), statement_timeout (57014), libpq's own.
    {"timeout", {"no answer within", "timeout", "timed out", "SQLSTATE 57014", nullptr}},
    {"starting up", {"is starting up", "not yet accepting connections", nullptr}},
    {"shutting down", {"is shutting down", "SQLSTATE 57P01", nullptr}},
    {"too many connections", {"too many clients", "SQLSTATE 53300", "SQLSTATE 53400", nullptr}},
    // A unix socket that is not there is the same as a port nobody listens on.
    {"connection refused", {"connection refused", "no such file or directory", nullptr}},
    {"name resolution failed",
     {"could not translate host name", "does not resolve", "name or service not known", nullptr}},
    {"unreachable", {"network is unreachable", "no route to host", nullptr}},
    {"connection lost",
     {"server closed the connection", "connection reset", "broken pipe", "terminating connection",
      "connection not open"}},
    {"permission denied", {"permission denied", "SQLSTATE 42501", nullptr}},
    {"primary unknown", {"primary unknown", nullptr}},
};

}  // namespace

std::string error_category(std::string_view error_text) {
  if (error_text.empty()) return "no answer";
  for (const auto& rule : kCategoryRules) {
    for (const char* phrase : rule.phrases) {
      if (phrase != nullptr && contains_nocase(error_text, phrase)) return rule.category;
    }
  }
  return "error";
}

std::string escape_for_echo(std::string_view raw) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  static constexpr std::string_view kUnsafe = "%\"'<>\\`&";
  std::string out;
  for (const char c : raw) {
    const auto byte = static_cast<unsigned char>(c);
    const bool keep = byte > 0x20 && byte < 0x7f && kUnsafe.find(c) == std::string_view::npos;
    if (out.size() + (keep ? 1 : 3) > kMaxEchoBytes) return out + "...";
    if (keep) {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

bool bearer_token_matches(std::string_view authorization, const agent::Secret& token) {
  const std::string_view want = token.reveal();
  constexpr std::string_view kScheme = "bearer";
  if (want.empty() || authorization.size() <= kScheme.size() ||
      !contains_nocase(authorization.substr(0, kScheme.size()), kScheme) ||
      authorization[kScheme.size()] != ' ') {
    return false;
  }
  std::string_view given = authorization.substr(kScheme.size());
  while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
  while (!given.empty() && (given.back() == ' ' || given.back() == '\t')) given.remove_suffix(1);
  // Every byte of what the client sent is compared (against the token, cycled), and the
  // differences are OR-ed together: no early exit, so the time says nothing about how much of
  // a guess was right. volatile keeps the compiler from reintroducing one.
  volatile unsigned char diff = given.size() == want.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i) {
    diff = diff | static_cast<unsigned char>(given[i] ^ want[i % want.size()]);
  }
  return !given.empty() && diff == 0;
}

std::optional<Target> parse_target(std::string_view target) {
  if (target.empty() || target.front() != '/') return std::nullopt;
  Target t;
  const auto q = target.find('?');
  auto path = percent_decode(target.substr(0, q));
  if (!path) return std::nullopt;
  t.path = std::move(*path);
  if (q == std::string_view::npos) return t;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq));
    auto value =
        percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!key || !value) return std::nullopt;
    // First occurrence wins, as Patroni reads path_query[key][0].
    t.query.emplace(std::move(*key), std::move(*value));
  }
  return t;
}

LagLimit parse_lag(const std::map<std::string, std::string>& query, std::uint64_t fallback) {
  const auto it = query.find("lag");
  if (it == query.end()) return LagLimit{fallback, std::nullopt};
  if (auto bytes = agent::parse_size(it->second)) return LagLimit{*bytes, std::nullopt};
  return LagLimit{0, Decision{400, fmt::format("bad lag '{}': expected a size in bytes such as "
                                               "1048576, 16MB or 1GiB",
                                               escape_for_echo(it->second))}};
}

std::optional<Decision> staleness(const Snapshot* s, SteadyTime now, const RouteParams& p) {
  if (s == nullptr || s->sequence == 0) return unavailable("no poll has completed yet");
  const auto limit = p.poll_interval * kStaleIntervals;
  if (now - s->taken_at > limit) {
    return unavailable(fmt::format("stale snapshot: last poll {:.1f}s ago (limit {})",
                                   seconds_between(s->taken_at, now),
                                   agent::format_duration(limit)));
  }
  return std::nullopt;
}

Decision decide_healthz(const Snapshot* s, SteadyTime now, const RouteParams& p,
                        const PollerHealth& health) {
  if (!health.running) {
    // The exception's text is in the log; the body is for anyone who can reach the port.
    return unavailable("poller stopped" + (health.stopped_reason.empty()
                                               ? std::string()
                                               : ": " + error_category(health.stopped_reason)));
  }
  // Deliberately not about PostgreSQL: a replica busy replaying WAL or a server still
  // starting must not be restarted by the kubelet. Only a wedged poller fails liveness.
  const auto wedged =
      std::max<std::chrono::milliseconds>(kWedgedPoll, p.poll_interval * kStaleIntervals);
  if (health.poll_started && now - *health.poll_started > wedged) {
    return unavailable(fmt::format("poller stuck: one poll running for {:.0f}s",
                                   seconds_between(*health.poll_started, now)));
  }
  if (s == nullptr || s->sequence == 0) return ok("agent alive; first poll in progress");
  return ok(fmt::format("agent alive; last poll {:.1f}s ago", seconds_between(s->taken_at, now)));
}

Decision decide_primary(const Snapshot* s, SteadyTime now, const RouteParams& p) {
  if (auto d = require_up(s, now, p)) return *d;
  if (s->role == Role::kPrimary) return ok("writable primary");
  return unavailable(fmt::format("not a primary: server is {}", to_string(s->role)));
}

Decision decide_replica(const Snapshot* s, SteadyTime now, const RouteParams& p,
                        std::uint64_t max_lag,
                        const std::optional<std::string>& replication_state) {
  if (auto d = require_up(s, now, p)) return *d;
  if (s->role != Role::kReplica) {
    return unavailable(fmt::format("not a replica: server is {}", to_string(s->role)));
  }
  const std::string& state = s->wal_receiver_status;
  if (state != "streaming") {
    return unavailable("replica is not streaming: WAL receiver " +
                       (state.empty() ? std::string("not running") : state));
  }
  if (replication_state && *replication_state != state) {
    return unavailable(
        fmt::format("replication state is {}, not {}", state, escape_for_echo(*replication_state)));
  }
  const auto lag = replica_lag_bytes(*s, "replay");
  if (!lag) {
    // Not Patroni's rule (it answers 200 without a primary position): here the position is
    // missing only while the receiver has not heard from the primary at all, or has heard
    // nothing for longer than a live sender stays silent (snapshot.hpp, primary_view()), and
    // then the replica may be any distance behind. primary_error is primary_view()'s own
    // fixed phrases and numbers, never a server's text, so it may be shown to anyone.
    return unavailable("replica lag unknown: " + lag_unknown_reason(*s));
  }
  if (*lag > max_lag) {
    return unavailable(fmt::format("replay lag {} bytes exceeds {} ({} bytes)", *lag,
                                   agent::format_size(max_lag), max_lag));
  }
  return ok(fmt::format("replica streaming; replay lag {} bytes (limit {})", *lag,
                        agent::format_size(max_lag)));
}

Decision decide_readyz(const Snapshot* s, SteadyTime now, const RouteParams& p,
                       std::uint64_t max_lag) {
  if (auto d = require_up(s, now, p)) return *d;
  // The primary's readiness never depends on a replica: with OrderedReady, pod 1 is created
  // only once pod 0 is ready, so waiting for replicas here would deadlock the set.
  if (s->role == Role::kPrimary) return ok("primary accepts connections");
  // A replica whose lag is unknown (WAL receiver not streaming, or silent past the bound of
  // primary_view()) stays ready for the grace, counted from when it last heard the primary.
  const bool streaming = s->wal_receiver_status == "streaming";
  if (s->role == Role::kReplica && (!streaming || !primary_position(*s)) && s->last_streaming_at &&
      p.disconnected_grace.count() > 0) {
    const auto since =
        std::chrono::duration_cast<std::chrono::milliseconds>(now - *s->last_streaming_at);
    if (since < p.disconnected_grace) {
      const std::string why =
          !streaming ? fmt::format("not streaming (WAL receiver {})",
                                   s->wal_receiver_status.empty() ? std::string("not running")
                                                                  : s->wal_receiver_status)
                     : "lag unknown (" + lag_unknown_reason(*s) + ")";
      return ok(fmt::format(
          "replica {} for {}: still ready for sidecar.disconnected_grace ({}) "
          "after it last heard from the primary",
          why, agent::format_duration(since), agent::format_duration(p.disconnected_grace)));
    }
  }
  return decide_replica(s, now, p, max_lag);
}

Decision decide_read_only(const Snapshot* s, SteadyTime now, const RouteParams& p,
                          std::uint64_t max_lag) {
  const Decision primary = decide_primary(s, now, p);
  if (primary.ok()) return primary;
  return decide_replica(s, now, p, max_lag);
}

namespace {

Response text(const Decision& d) {
  Response r;
  r.status = d.status;
  r.body = d.reason + "\n";
  return r;
}

// Patroni answers its health checks on several names; HAProxy configs use them all.
bool is_primary_path(const std::string& path) {
  return path == "/primary" || path == "/" || path == "/master" || path == "/read-write";
}
bool is_replica_path(const std::string& path) {
  // Every replica here is asynchronous, so Patroni's /async is /replica.
  return path == "/replica" || path == "/async" || path == "/asynchronous";
}

Response route(const Request& request, const Target& t, const RouteContext& ctx) {
  const Snapshot* s = ctx.snapshot.get();
  const auto& p = ctx.params;
  if (t.path == "/metrics") {
    Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = ctx.render_metrics ? ctx.render_metrics() : std::string();
    return r;
  }
  if (t.path == "/status") {
    Response r;
    r.content_type = "application/json";
    const bool full = bearer_token_matches(request.authorization, p.status_token);
    r.body = status_json(s, ctx.now, p, full ? StatusDetail::kFull : StatusDetail::kReduced);
    return r;
  }
  if (t.path == "/healthz") return text(decide_healthz(s, ctx.now, p, ctx.health));
  if (is_primary_path(t.path)) return text(decide_primary(s, ctx.now, p));
  const bool ready = t.path == "/readyz";
  const bool replica = is_replica_path(t.path);
  const bool read_only = t.path == "/read-only";
  if (!ready && !replica && !read_only) {
    Response r = text(Decision{404, "no such endpoint " + escape_for_echo(t.path) +
                                        " (endpoints: /metrics /healthz /readyz /primary "
                                        "/replica /read-only /status)"});
    return r;
  }
  const LagLimit lag = parse_lag(t.query, p.max_lag);
  if (lag.error) return text(*lag.error);
  if (ready) return text(decide_readyz(s, ctx.now, p, lag.bytes));
  if (read_only) return text(decide_read_only(s, ctx.now, p, lag.bytes));
  std::optional<std::string> state;
  if (auto it = t.query.find("replication_state"); it != t.query.end()) state = it->second;
  return text(decide_replica(s, ctx.now, p, lag.bytes, state));
}

}  // namespace

Response respond(const Request& request, const RouteContext& ctx) {
  // OPTIONS too: Patroni-era HAProxy configs send `option httpchk OPTIONS /primary` and read
  // only the status line.
  if (request.method != "GET" && request.method != "HEAD" && request.method != "OPTIONS") {
    Response r = text(Decision{
        405, "method " + escape_for_echo(request.method) + " not allowed: use GET or HEAD"});
    r.headers.emplace_back("Allow", "GET, HEAD, OPTIONS");
    return r;
  }
  const auto target = parse_target(request.target);
  if (!target) return text(Decision{400, "bad request target (expected /path?key=value)"});
  Response r = route(request, *target, ctx);
  if (r.status == 503 && target->path != "/healthz" &&
      staleness(ctx.snapshot.get(), ctx.now, ctx.params)) {
    r.headers.emplace_back(kStaleHeader, "1");
  }
  if (request.method == "OPTIONS") r.body.clear();
  return r;
}

}  // namespace replagent::probes
