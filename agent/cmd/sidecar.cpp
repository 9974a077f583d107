// `replagent sidecar`: the sidecar's effects and the other layers' periodic duties, wired.
#include "probes/sidecar.hpp"

#include <memory>
#include <optional>
#include <string>

#include "agent/clock.hpp"
#include "agent/cmd/commands.hpp"
#include "agent/dns.hpp"
#include "agent/pg.hpp"
#include "agent/pg_replication.hpp"
#include "roles/data_dir.hpp"
#include "roles/init_record.hpp"
#include "roles/password_sync.hpp"
#include "roles/role_label.hpp"
#include "roles/tls_reload.hpp"
#include "roles/tls_upgrade.hpp"

namespace replagent::cmd {
namespace {

constexpr const char* kHelp =
    R"(replagent sidecar — serve /metrics, /healthz, /readyz, /primary, /replica, /read-only and
/status on sidecar.listen (default 0.0.0.0:9187) until SIGTERM.

Connects to the local server as postgres.monitor_user (pg_monitor), never the superuser.
Error texts in response bodies are reduced to a category; with sidecar.status_token_file,
/status answers in full to "Authorization: Bearer <token>".

Example:
  REPLAGENT_POSTGRES_MONITOR_PASSWORD_FILE=/secrets/monitor/password \
  replagent sidecar --set sidecar.listen=0.0.0.0:9187
)";

// The duties of other layers the sidecar runs after each poll. Every pod reloads rotated TLS
// files and keeps its role label; a primary syncs rotated passwords; a replica that init left
// on the interim sslmode=prefer moves to verify-full once the primary verifies.
class AfterPoll {
 public:
  AfterPoll(const agent::Config& config, agent::PgClient& pg, agent::ReplicationClient& replication,
            agent::Resolver& resolver, agent::Clock& clock)
      : config_(config),
        // On the primary, rotated passwords take effect while the set runs (password_sync.hpp).
        passwords_(config, pg, clock),
        // On every pod, rotated TLS files are served after a reload (tls_reload.hpp).
        tls_(config, pg, clock, roles::real_tls_effects(config)),
        // tls_upgrade.hpp
        tls_upgrade_(config, pg, clock,
                     roles::real_tls_upgrade_effects(config, resolver, replication)),
        // The pod's role label for Services that select by role (role_label.hpp); off when
        // sidecar.role_label is empty.
        role_label_(config.sidecar.role_label, clock, roles::real_label_patcher(config, resolver)),
        socket_fallback_(config.postgres.host.rfind('/', 0) == 0 ? config.postgres.host : "") {}

  void operator()(const probes::Snapshot& s) {
    if (s.role == probes::Role::kUnknown) return;
    const bool primary = s.role == probes::Role::kPrimary;
    role_label_.review(primary ? "primary" : "replica");
    // postmaster.pid is read at most once a poll, and only when a duty needs the socket.
    std::optional<std::string> socket;
    auto socket_dir = [&]() -> const std::string& {
      if (!socket) {
        socket = roles::server_socket_dir(config_.postgres.data_dir);
        if (socket->empty()) socket = socket_fallback_;
      }
      return *socket;
    };
    if (config_.postgres.tls()) {
      tls_.review(socket_dir());
      if (!primary) tls_upgrade_.review(socket_dir());
    }
    if (primary) passwords_.review(true, socket_dir());
  }

 private:
  const agent::Config& config_;
  roles::PasswordSync passwords_;
  roles::TlsReload tls_;
  roles::TlsUpgrade tls_upgrade_;
  roles::RoleLabel role_label_;
  std::string socket_fallback_;
};

std::optional<probes::LastInit> last_init(const agent::Config& config) {
  // Init ran before this container started (an init container), so once is enough.
  if (config.postgres.data_dir.empty()) return std::nullopt;
  const auto r = roles::load_init_record(config.postgres.data_dir);
  if (!r) return std::nullopt;
  return probes::LastInit{r->action, r->reason, r->time, r->message};
}

int run(const agent::CommandLine& cl) {
  const agent::Config config = load_settings(cl);
  const agent::StopToken stop = agent::process_stop();
  auto pg = agent::make_libpq_client();
  auto replication = agent::make_replication_client(*pg);
  auto resolver = agent::make_cares_resolver(config.dns.servers, config.dns.timeout, stop);
  agent::SystemClock clock(stop);
  auto after_poll = std::make_shared<AfterPoll>(config, *pg, *replication, *resolver, clock);
  return probes::run_sidecar(
      config, {.pg = *pg,
               .replication = *replication,
               .resolver = *resolver,
               .clock = clock,
               .stop = stop,
               .last_init = last_init(config),
               .after_poll = [after_poll](const probes::Snapshot& s) { (*after_poll)(s); }});
}

}  // namespace

agent::Command sidecar_command() {
  return {.name = "sidecar",
          .min_positional = 0,
          .max_positional = 0,
          .argument = std::nullopt,
          .flags = {},
          .summary = "serve /metrics, health and read-only routing endpoints",
          .help = kHelp,
          .handler = run};
}

}  // namespace replagent::cmd
