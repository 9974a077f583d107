#include "roles/promote.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent/errors.hpp"
#include "agent/topology.hpp"

namespace replagent::roles {

PromoteDecision decide_promote(const PromoteObservation& o) {
  using A = PromoteDecision::Action;
  if (!o.in_recovery)
    return {A::kAlreadyPrimary, "this server is not in recovery: it already is a primary"};
  if (o.primary_dns == agent::DnsStatus::kNotFound)
    return {A::kPromote, fmt::format("{} is gone from DNS (NXDOMAIN)", o.primary_host)};
  if (o.primary_dns != agent::DnsStatus::kOk)
    return {A::kCannotTell,
            fmt::format("cannot tell whether the primary {} is down: DNS answered {} ({}); "
                        "retry when the cluster DNS answers",
                        o.primary_host, agent::to_string(o.primary_dns), o.primary_dns_detail)};
  for (const auto& [address, ping] : o.primary_pings) {
    if (ping == agent::PingStatus::kOk || ping == agent::PingStatus::kRejected)
      return {A::kRefuse,
              fmt::format("the primary {} still answers at {} ({}): promoting this replica would "
                          "make a second primary. Stop it first (the runbook: README \"Losing the "
                          "primary's volume\")",
                          o.primary_host, address, agent::to_string(ping))};
  }
  return {A::kPromote,
          fmt::format("no server answers at {} ({})", o.primary_host,
                      o.primary_pings.empty() ? "no address" : "connection refused or timed out")};
}

namespace {

std::string cell(const agent::QueryResult& r, std::size_t col) {
  return r.rows.empty() || !r.rows[0][col] ? std::string() : *r.rows[0][col];
}

// 1. The local server: in recovery, and how much WAL it received and replayed.
void observe_local(agent::PgSession& s, PromoteObservation& o) {
  agent::QueryResult r;
  if (auto err =
          s.exec("SELECT pg_catalog.pg_is_in_recovery(), pg_catalog.pg_last_wal_receive_lsn(), "
                 "pg_catalog.pg_last_wal_replay_lsn()",
                 &r))
    throw agent::AgentError(agent::ExitCode::kFailed,
                            "cannot read the local server's state: " + err->message);
  o.in_recovery = cell(r, 0) == "t";
  o.receive_lsn = cell(r, 1);
  o.replay_lsn = cell(r, 2);
}

// 2. The configured primary: its DNS name, and whether a server answers at each address.
void observe_primary(const agent::Config& c, const agent::Topology& t, agent::PgClient& pg,
                     agent::Resolver& resolver, PromoteObservation& o) {
  o.primary_host = t.primary_host;
  const agent::DnsAnswer a = resolver.resolve_ipv4(t.primary_host);
  o.primary_dns = a.status;
  o.primary_dns_detail = a.detail;
  for (const auto& address : a.addresses) {
    o.primary_pings[address] = pg.ping(agent::replication_ping_to(c, t.primary_host, address));
  }
}

}  // namespace

std::string run_promote(const agent::Config& config, const std::string& socket_dir,
                        agent::PgClient& pg, agent::Resolver& resolver) {
  const agent::Topology t = agent::topology_of(config);
  agent::PgError err;
  auto local = pg.connect(agent::promote_superuser(config, socket_dir), &err);
  if (!local)
    throw agent::AgentError(
        agent::ExitCode::kFailed,
        fmt::format("cannot reach the local server on {} as {}: {} (run this in the "
                    "replica's postgres container)",
                    socket_dir, config.postgres.superuser, err.message));
  PromoteObservation o;
  observe_local(*local, o);
  observe_primary(config, t, pg, resolver, o);
  const PromoteDecision d = decide_promote(o);
  spdlog::info("promote {}: received WAL up to {}, replayed up to {}; {}", config.pod.name,
               o.receive_lsn.empty() ? "-" : o.receive_lsn,
               o.replay_lsn.empty() ? "-" : o.replay_lsn, d.reason);
  using A = PromoteDecision::Action;
  switch (d.action) {
    case A::kAlreadyPrimary:
      return config.pod.name + " already is a primary\n";
    case A::kRefuse:
      throw agent::AgentError(agent::ExitCode::kUnsafeData, "refusing to promote: " + d.reason);
    case A::kCannotTell:
      throw agent::AgentError(agent::ExitCode::kTimedOut, "refusing to promote: " + d.reason);
    case A::kPromote:
      break;
  }
  // 3. Promote and wait for it (pg_promote removes standby.signal and ends recovery).
  agent::QueryResult r;
  if (auto e = local->exec("SELECT pg_catalog.pg_promote(true, 60)", &r))
    throw agent::AgentError(agent::ExitCode::kFailed, "pg_promote failed: " + e->message);
  if (cell(r, 0) != "t")
    throw agent::AgentError(agent::ExitCode::kFailed, "pg_promote did not finish within 60 s");
  spdlog::info("promoted {} to primary", config.pod.name);
  return fmt::format(
      "{} is the primary now (it had received WAL up to {}).\n"
      "Next: make it the set's primary, so the -rw Service and every pod follow it:\n"
      "  helm upgrade <release> <chart> --reuse-values --set primaryOrdinal={}\n"
      "The other pods restart with it as their primary and re-clone from it.\n",
      config.pod.name, o.receive_lsn.empty() ? "-" : o.receive_lsn, t.self.ordinal);
}

}  // namespace replagent::roles
