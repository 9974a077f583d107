#include "roles/tls_upgrade.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "agent/topology.hpp"
#include "roles/pg_files.hpp"

namespace replagent::roles {

namespace {
namespace fs = std::filesystem;
}  // namespace

TlsUpgradeEffects real_tls_upgrade_effects(const agent::Config& config, agent::Resolver& resolver,
                                           agent::ReplicationClient& replication) {
  TlsUpgradeEffects e;
  const fs::path dir(config.postgres.data_dir);
  e.pending = [dir] {
    std::error_code ec;
    return fs::exists(dir / kTlsPendingFile, ec);
  };
  e.verify_primary = [config, &resolver, &replication]() -> std::optional<std::string> {
    const agent::Topology t = agent::topology_of(config);
    const agent::DnsAnswer a = resolver.resolve_ipv4(t.primary_host);
    if (a.status != agent::DnsStatus::kOk || a.addresses.empty())
      return fmt::format("{} does not resolve ({})", t.primary_host, agent::to_string(a.status));
    const agent::ConnParams p =
        agent::replication_to(config, t.primary_host, a.addresses.front(), "replagent-sidecar-tls");
    agent::PgError err;
    if (replication.identify_system(p, &err)) return std::nullopt;
    return fmt::format("{}: {}", p.describe(), err.message);
  };
  e.record_verified = [data_dir = config.postgres.data_dir] { mark_tls_verified(data_dir); };
  return e;
}

TlsUpgrade::TlsUpgrade(agent::Config config, agent::PgClient& pg, agent::Clock& clock,
                       TlsUpgradeEffects effects)
    : config_(std::move(config)), pg_(pg), clock_(clock), effects_(std::move(effects)) {}

void TlsUpgrade::wait(const std::string& why) {
  retry_at_ = clock_.now() + backoff_.next();
  if (why != last_reason_)
    spdlog::info("TLS: still streaming with the interim sslmode=prefer: {}; trying again", why);
  last_reason_ = why;
}

void TlsUpgrade::review(const std::string& socket_dir) {
  if (finished_ || !config_.postgres.tls() || clock_.now() < retry_at_) return;
  // 1. Pending at all: init wrote the marker before this container started.
  if (!effects_.pending()) {
    finished_ = true;
    return;
  }
  // 2. The primary verifies now (it restarted with TLS), or we wait for it.
  if (auto why = effects_.verify_primary()) return wait("the primary does not verify yet: " + *why);

  // 3. The verifying conninfo, set by the server itself, then a reload.
  std::string why;
  auto session =
      agent::connect_local_superuser(pg_, config_, socket_dir, "replagent-sidecar-tls", &why);
  if (!session) return wait(why);
  agent::QueryResult current;
  if (auto e = session->exec("SHOW primary_conninfo", &current))
    return wait(fmt::format("SHOW primary_conninfo: {}", e->message));
  const std::string conninfo =
      current.rows.empty() || current.rows[0].empty() ? "" : current.rows[0][0].value_or("");
  const auto verified = verified_conninfo(conninfo, config_.postgres.tls_ca_file);
  if (!verified) {
    // Not the interim conninfo init writes: switched already (a marker write failed after
    // it), or set by someone else, which is theirs to keep.
    if (conninfo.find("sslmode=verify-full") != std::string::npos) {
      effects_.record_verified();
      finished_ = true;
      return;
    }
    spdlog::warn(
        "TLS: primary_conninfo is not the interim one init wrote; leaving it as it is "
        "(the next init writes the verifying one)");
    finished_ = true;
    return;
  }
  // ALTER SYSTEM takes no bind parameters: the server quotes the literal itself.
  agent::QueryResult quoted;
  if (auto e = session->exec_params("SELECT pg_catalog.quote_literal($1)", {*verified}, &quoted);
      e || quoted.rows.empty() || quoted.rows[0].empty() || !quoted.rows[0][0])
    return wait(fmt::format("quote_literal: {}", e ? e->message : "no row"));
  if (auto e = session->exec("ALTER SYSTEM SET primary_conninfo = " + *quoted.rows[0][0]))
    return wait(fmt::format("ALTER SYSTEM SET primary_conninfo: {}", e->message));
  if (auto e = session->exec("SELECT pg_catalog.pg_reload_conf()"))
    return wait(fmt::format("pg_reload_conf(): {}", e->message));
  effects_.record_verified();
  finished_ = true;
  spdlog::info(
      "TLS: the primary verifies now; primary_conninfo switched to sslmode=verify-full "
      "against {} and the server reloaded (the walreceiver reconnects verifying it)",
      config_.postgres.tls_ca_file);
}

}  // namespace replagent::roles
