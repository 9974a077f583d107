#include "roles/backup_source.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent/errors.hpp"
#include "agent/identity.hpp"
#include "agent/topology.hpp"

namespace replagent::roles {
namespace {

// A replica is worth reading from only while it streams: a disconnected one may be hours
// behind, and a dump of it would look fine while missing the latest data.
const char* kRoleQuery =
    "SELECT pg_catalog.pg_is_in_recovery()::pg_catalog.text, "
    "COALESCE((SELECT status FROM pg_catalog.pg_stat_wal_receiver LIMIT 1), '')";

struct Observed {
  bool in_recovery = false;
  std::string receiver;  // pg_stat_wal_receiver.status, "" when none
};

std::optional<Observed> observe(agent::PgClient& pg, const agent::ConnParams& params,
                                std::string* why) {
  agent::PgError err;
  auto session = pg.connect(params, &err);
  if (!session) {
    *why = err.message;
    return std::nullopt;
  }
  agent::QueryResult r;
  if (auto e = session->exec(kRoleQuery, &r)) {
    *why = e->message;
    return std::nullopt;
  }
  if (r.rows.size() != 1 || r.rows[0].size() != 2 || !r.rows[0][0] || !r.rows[0][1]) {
    *why = "unexpected reply to the role query";
    return std::nullopt;
  }
  return Observed{*r.rows[0][0] == "true", *r.rows[0][1]};
}

std::optional<std::string> resolve_first(agent::Resolver& resolver, const std::string& name,
                                         std::string* why) {
  if (agent::is_ip_literal(name)) return name;  // backup.source as an address: taken as is
  const auto answer = resolver.resolve_ipv4(name);
  if (answer.status != agent::DnsStatus::kOk || answer.addresses.empty()) {
    *why = fmt::format("{} does not resolve ({}{})", name, agent::to_string(answer.status),
                       answer.detail.empty() ? "" : ": " + answer.detail);
    return std::nullopt;
  }
  return answer.addresses.front();
}

SourceChoice named_source(const agent::Config& c, agent::Resolver& resolver, agent::PgClient& pg,
                          const std::string& role, const std::string& host,
                          const std::string& earlier) {
  SourceChoice out;
  std::string why;
  const auto address = resolve_first(resolver, host, &why);
  if (address) {
    // Reachable and answering as the backup role: a wrong password fails here, with a clear
    // message, rather than deep inside pg_dump.
    if (observe(pg, agent::backup_to(c, host, *address, "postgres"), &why)) {
      out.source = BackupSource{role, host, *address};
      out.reason = earlier;
      return out;
    }
    why = fmt::format("{}:{}: {}", host, c.postgres.port, why);
  }
  out.reason = earlier.empty() ? why : earlier + "; " + why;
  return out;
}

}  // namespace

std::string BackupSource::describe() const {
  return fmt::format("{} {} ({})", role, address, host);
}

BackupTarget backup_target_of(const agent::Config& c) {
  BackupTarget t;
  // pod.service first: load_config derives it from a member's pod name, and a Job sets it
  // explicitly. A Job pod's own name (todo-db-backup-29012345-x7k2p) must not be read as
  // <set>-<ordinal>, which it would be whenever its random suffix happens to be all digits.
  std::string service = c.pod.service;
  if (!service.empty()) {
    t.set = service;
  } else if (auto self = agent::parse_pod_name(c.pod.name)) {
    t.set = service = self->set;
  }
  if (t.set.empty()) {
    throw agent::usage_error(fmt::format(
        "cannot tell which StatefulSet to back up: pod name '{}' is not <set>-<ordinal> and "
        "pod.service is not set (in a Job, set REPLAGENT_POD_SERVICE to the headless Service, "
        "e.g. todo-db)",
        c.pod.name));
  }
  t.service_host = agent::service_dns_name(service, c.pod.namespace_, c.pod.cluster_domain);
  t.primary_host = agent::pod_dns_name(agent::PodIdentity{t.set, c.pod.primary_ordinal}, service,
                                       c.pod.namespace_, c.pod.cluster_domain);
  return t;
}

SourceChoice choose_backup_source(const agent::Config& c, const BackupTarget& t,
                                  agent::Resolver& resolver, agent::PgClient& pg) {
  if (c.backup.source == agent::BackupSourceKind::kPrimary)
    return primary_source(c, t, resolver, pg);
  if (c.backup.source == agent::BackupSourceKind::kHost)
    return named_source(c, resolver, pg, "host", c.backup.source_host, "");

  std::vector<std::string> skipped;
  const auto answer = resolver.resolve_ipv4(t.service_host);
  if (answer.status != agent::DnsStatus::kOk) {
    skipped.push_back(
        fmt::format("{} does not resolve ({})", t.service_host, agent::to_string(answer.status)));
  }
  for (const auto& address : answer.addresses) {
    std::string why;
    const auto seen = observe(pg, agent::backup_to(c, t.service_host, address, "postgres"), &why);
    if (seen && seen->in_recovery && seen->receiver == "streaming") {
      SourceChoice out;
      out.source = BackupSource{"replica", t.service_host, address};
      return out;
    }
    if (!seen) {
      skipped.push_back(fmt::format("{}: {}", address, why));
    } else if (seen->in_recovery) {
      skipped.push_back(fmt::format("{}: a replica but not streaming (WAL receiver: {})", address,
                                    seen->receiver.empty() ? "none" : seen->receiver));
    } else {
      skipped.push_back(fmt::format("{}: not a replica", address));
    }
  }
  std::string earlier = "no streaming replica";
  if (!skipped.empty()) {
    earlier += " (";
    for (std::size_t i = 0; i < skipped.size(); ++i) earlier += (i ? "; " : "") + skipped[i];
    earlier += ")";
  }
  return primary_source(c, t, resolver, pg, earlier);
}

SourceChoice primary_source(const agent::Config& c, const BackupTarget& t,
                            agent::Resolver& resolver, agent::PgClient& pg,
                            const std::string& earlier) {
  return named_source(c, resolver, pg, "primary", t.primary_host, earlier);
}

}  // namespace replagent::roles
