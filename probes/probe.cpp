#include "probes/probe.hpp"

#include <fmt/format.h>

#include <future>
#include <thread>

#include "agent/errors.hpp"
#include "agent/topology.hpp"
#include "agent/units.hpp"
#include "probes/http_client.hpp"
#include "probes/http_server.hpp"
#include "probes/poller.hpp"
#include "probes/queries.hpp"

namespace replagent::probes {

const char* to_string(ProbeKind kind) {
  switch (kind) {
    case ProbeKind::kReady:
      return "ready";
    case ProbeKind::kLive:
      return "live";
    case ProbeKind::kPrimary:
      return "primary";
    case ProbeKind::kReplica:
      return "replica";
  }
  return "?";
}

ProbeOptions parse_probe_options(const std::string& kind,
                                 const std::map<std::string, std::string>& options,
                                 const agent::Config& config) {
  ProbeOptions o;
  if (kind == "ready") {
    o.kind = ProbeKind::kReady;
  } else if (kind == "live") {
    o.kind = ProbeKind::kLive;
  } else if (kind == "primary") {
    o.kind = ProbeKind::kPrimary;
  } else if (kind == "replica") {
    o.kind = ProbeKind::kReplica;
  } else {
    throw agent::usage_error(
        fmt::format("probe '{}': expected ready, live, primary or replica", kind));
  }
  o.max_lag = config.sidecar.max_lag;
  if (auto it = options.find("max-lag"); it != options.end()) {
    const auto bytes = agent::parse_size(it->second);
    if (!bytes) {
      throw agent::usage_error(
          fmt::format("--max-lag '{}': expected a size such as 16MB, 1GiB or 1048576", it->second));
    }
    o.max_lag = *bytes;
    o.max_lag_given = true;
  }
  if (auto it = options.find("timeout"); it != options.end()) {
    const auto d = agent::parse_duration(it->second);
    if (!d || d->count() <= 0) {
      throw agent::usage_error(fmt::format(
          "--timeout '{}': expected a positive duration such as 1s or 500ms", it->second));
    }
    o.timeout = *d;
  }
  return o;
}

std::string sidecar_path(const ProbeOptions& o) {
  switch (o.kind) {
    case ProbeKind::kReady:
      return o.max_lag_given ? fmt::format("/readyz?lag={}", o.max_lag) : "/readyz";
    case ProbeKind::kLive:
      return "/healthz";
    case ProbeKind::kPrimary:
      return "/primary";
    case ProbeKind::kReplica:
      return fmt::format("/replica?lag={}", o.max_lag);
  }
  return "/readyz";
}

bool needs_direct_check(const ProbeOptions& o, const SidecarAnswer& s) {
  if (o.kind == ProbeKind::kLive) return false;
  if (!s.answered || s.stale) return true;
  return s.status != 200 && s.status != 503;
}

namespace {

ProbeResult pass(std::string reason) { return ProbeResult{true, std::move(reason)}; }
ProbeResult fail(std::string reason) { return ProbeResult{false, std::move(reason)}; }

std::string why_not_sidecar(const SidecarAnswer& s) {
  if (!s.answered) return "sidecar not answering: " + s.error;
  if (s.stale) return "sidecar snapshot stale: " + s.body;
  return fmt::format("sidecar answered {}: {}", s.status, s.body);
}

ProbeResult decide_direct(const ProbeOptions& o, const DirectObservation& d) {
  if (!d.connected) return fail("cannot query postgres: " + d.error);
  // Readiness without the sidecar fails closed for a replica: a server that merely accepts
  // connections may be hours behind or cut off from the primary, and a Ready replica gets
  // reads from -ro. It must stream within the lag limit, as the sidecar's /readyz requires.
  if (o.kind == ProbeKind::kReady && !d.in_recovery) return pass("primary accepts connections");
  if (o.kind == ProbeKind::kPrimary) {
    if (!d.in_recovery) return pass("writable primary");
    return fail("not a primary: server is in recovery");
  }
  if (!d.in_recovery) return fail("not a replica: server is a primary");
  if (d.wal_receiver_status != "streaming") {
    return fail("replica is not streaming: WAL receiver " + (d.wal_receiver_status.empty()
                                                                 ? std::string("not running")
                                                                 : d.wal_receiver_status));
  }
  if (d.lag_bytes && *d.lag_bytes > o.max_lag) {
    return fail(
        fmt::format("replay lag {} bytes exceeds {}", *d.lag_bytes, agent::format_size(o.max_lag)));
  }
  return pass(d.lag_bytes ? fmt::format("replica streaming; replay lag {} bytes", *d.lag_bytes)
                          : std::string("replica streaming"));
}

}  // namespace

ProbeResult decide_probe(const ProbeOptions& o, const SidecarAnswer& s,
                         const std::optional<DirectObservation>& direct) {
  if (!needs_direct_check(o, s)) {
    if (o.kind == ProbeKind::kLive && !s.answered) {
      // The sidecar container may be restarting or absent; PostgreSQL's own state must not
      // make the kubelet kill it, so there is nothing else to check.
      return pass(why_not_sidecar(s) + "; liveness does not depend on PostgreSQL");
    }
    const std::string reason = s.body + " (sidecar)";
    if (s.status == 200) return pass(reason);
    if (s.status == 503) return fail(reason);
    return fail(why_not_sidecar(s));
  }
  if (!direct) return fail(why_not_sidecar(s) + "; server not checked");
  ProbeResult r = decide_direct(o, *direct);
  r.reason += " (direct; " + why_not_sidecar(s) + ")";
  return r;
}

std::string probe_line(const ProbeOptions& o, const ProbeResult& r) {
  return fmt::format("{} {}: {}", to_string(o.kind), r.ok ? "ok" : "failed", r.reason);
}

namespace {

constexpr const char* kDirectSql = R"sql(
SELECT pg_catalog.pg_is_in_recovery(), w.status,
       pg_catalog.pg_wal_lsn_diff(w.latest_end_lsn,
                                  pg_catalog.pg_last_wal_replay_lsn())::pg_catalog.int8
FROM (SELECT 1) AS one LEFT JOIN pg_catalog.pg_stat_wal_receiver AS w ON true)sql";

DirectObservation check_directly(const agent::ConnParams& params, ProbeKind kind) {
  auto pg = agent::make_libpq_client();
  DirectObservation d;
  (void)kind;  // every kind but live (never checked directly) needs the same three facts
  agent::PgError err;
  auto session = pg->connect(params, &err);
  if (!session) {
    d.error = err.message;
    return d;
  }
  agent::QueryResult r;
  if (auto e = session->exec(kDirectSql, &r)) {
    d.error = e->message;
    return d;
  }
  if (r.rows.size() != 1 || r.rows[0].size() != 3) {
    d.error = "unexpected result from the status query";
    return d;
  }
  d.connected = true;
  d.in_recovery = r.rows[0][0].value_or("f") == "t";
  d.wal_receiver_status = r.rows[0][1].value_or("");
  d.lag_bytes = parse_byte_count(r.rows[0][2]);
  return d;
}

// libpq's connect_timeout has whole-second granularity (and 1 means 2); the probe's budget
// is enforced here instead: the check runs on its own thread and is abandoned, not waited
// for, when the budget runs out (the process exits right after).
DirectObservation check_directly_within(const agent::Config& config, const ProbeOptions& o,
                                        std::chrono::milliseconds budget) {
  // Copies only: the abandoned thread may outlive this function's frame.
  auto task = std::make_shared<std::packaged_task<DirectObservation()>>(
      [params = agent::local_monitor(config, budget), kind = o.kind] {
        return check_directly(params, kind);
      });
  auto result = task->get_future();
  std::thread([task] { (*task)(); }).detach();
  if (result.wait_for(budget) == std::future_status::ready) return result.get();
  DirectObservation d;
  d.error = fmt::format("no answer within {}", agent::format_duration(budget));
  return d;
}

}  // namespace

ProbeResult run_probe(const agent::Config& config, const ProbeOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const auto listen = parse_listen(config.sidecar.listen);
  if (!listen) {
    throw agent::usage_error(fmt::format(
        "sidecar.listen '{}': expected ADDRESS:PORT such as 0.0.0.0:9187", config.sidecar.listen));
  }
  // A wildcard listener is reached on loopback; a specific address only on itself. [::]
  // (dual-stack, or an IPv6-only pod) always answers on ::1.
  const std::string host = listen->address == "0.0.0.0" ? "127.0.0.1"
                           : listen->address == "::"    ? "::1"
                                                        : listen->address;
  // Half the budget for the sidecar: a refused connection returns at once, and a sidecar
  // that hangs must leave time for the direct check.
  const auto sidecar_budget = o.kind == ProbeKind::kLive ? o.timeout : o.timeout / 2;
  const HttpAnswer http = http_get(host, listen->port, sidecar_path(o), sidecar_budget);
  SidecarAnswer s;
  s.answered = http.ok;
  s.status = http.status;
  s.stale = http.stale;
  s.body = http.body;
  while (!s.body.empty() && (s.body.back() == '\n' || s.body.back() == '\r')) s.body.pop_back();
  s.error = http.error;
  std::optional<DirectObservation> direct;
  if (needs_direct_check(o, s)) {
    const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    const auto left = std::max(std::chrono::milliseconds(100), o.timeout - spent);
    direct = check_directly_within(config, o, left);
  }
  return decide_probe(o, s, direct);
}

}  // namespace replagent::probes
