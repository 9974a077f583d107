#include "probes/sidecar.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <optional>
#include <thread>

#include "agent/clock.hpp"
#include "agent/errors.hpp"
#include "agent/identity.hpp"
#include "agent/pg.hpp"
#include "agent/tls.hpp"
#include "agent/topology.hpp"
#include "agent/units.hpp"
#include "agent/version.hpp"
#include "probes/http_server.hpp"
#include "probes/metrics.hpp"
#include "probes/poller.hpp"
#include "probes/routes.hpp"

namespace replagent::probes {
namespace {

ListenAddress listen_address(const agent::Config& config) {
  auto listen = parse_listen(config.sidecar.listen);
  if (!listen) {
    throw agent::usage_error(fmt::format(
        "sidecar.listen '{}': expected ADDRESS:PORT such as 0.0.0.0:9187", config.sidecar.listen));
  }
  return *listen;
}

RouteParams route_params(const agent::Config& config, std::optional<LastInit> last_init) {
  RouteParams p;
  p.poll_interval = config.sidecar.poll_interval;
  p.max_lag = config.sidecar.max_lag;
  p.disconnected_grace = config.sidecar.disconnected_grace;
  p.pod_name = config.pod.name;
  if (auto id = agent::parse_pod_name(config.pod.name)) p.ordinal = id->ordinal;
  p.last_init = std::move(last_init);
  p.status_token = config.sidecar.status_token;
  return p;
}

// The slot janitor of a pod of a set (nullptr for a name without an ordinal): it only acts
// while this pod's server is a primary.
std::unique_ptr<SlotJanitor> slot_janitor(const agent::Config& config,
                                          const agent::ConnParams& local, agent::Resolver& resolver,
                                          agent::ReplicationClient& replication) {
  const auto id = agent::parse_pod_name(config.pod.name);
  if (!id) return nullptr;
  SlotJanitorSettings s;
  s.set = id->set;
  s.service = config.pod.service.empty() ? id->set : config.pod.service;
  s.ns = config.pod.namespace_;
  s.cluster_domain = config.pod.cluster_domain;
  s.primary_ordinal = config.pod.primary_ordinal;
  s.drop_after = config.sidecar.slot_drop_after;
  s.replication = agent::local_replication(config, local);
  return std::make_unique<SlotJanitor>(std::move(s), resolver, replication);
}

}  // namespace

int run_sidecar(const agent::Config& config, SidecarDeps deps) {
  // 1. Settings and effects.
  const ListenAddress listen = listen_address(config);
  if (config.sidecar.poll_interval.count() <= 0) {
    throw agent::usage_error("sidecar.poll_interval must be positive, e.g. 2s");
  }
  // The TLS files as init checks them: a sidecar that would reload a broken set stops here.
  agent::check_tls_files(config, deps.clock.wall_now());
  const RouteParams params = route_params(config, std::move(deps.last_init));
  SnapshotStore store;
  Metrics metrics(agent::kVersion, config.sidecar.poll_interval);
  if (params.last_init) {
    metrics.set_last_init(params.last_init->action, params.last_init->reason,
                          params.last_init->time);
    if (params.last_init->action == "reclone") {
      spdlog::warn("the last init re-cloned this replica ({}): {}", params.last_init->reason,
                   params.last_init->message);
    }
  }
  PollerTargets targets = poller_targets(config);
  std::unique_ptr<SlotJanitor> janitor =
      slot_janitor(config, targets.local, deps.resolver, deps.replication);
  PollerDeps poller_deps{.pg = deps.pg,
                         .clock = deps.clock,
                         .filesystem = statvfs_stats,
                         .on_poll =
                             [&](const Snapshot& s) {
                               metrics.observe_poll(s);
                               // When the certificates on disk expire, renewals included (two
                               // small files a poll), whether or not the server answers.
                               if (config.postgres.tls())
                                 metrics.set_tls_expiry(agent::read_tls_expiry(config));
                               if (deps.after_poll) deps.after_poll(s);
                             },
                         .janitor = janitor.get(),
                         .stop = deps.stop};
  Poller poller(config, targets, std::move(poller_deps), store);

  // 2. Bind first: a taken port is a start-up error, before any thread exists.
  HttpServer server(
      listen,
      [&](const Request& request) {
        RouteContext ctx;
        ctx.snapshot = store.load();
        ctx.now = std::chrono::steady_clock::now();
        ctx.params = params;
        ctx.health = poller.health();
        ctx.render_metrics = [&metrics, &ctx] {
          return metrics.render(ctx.snapshot.get(), ctx.now);
        };
        return respond(request, ctx);
      },
      HttpLimits{}, deps.stop);
  spdlog::info("sidecar: serving on {}:{}, polling {} every {} (max lag {})", listen.address,
               server.port(), targets.local.describe(),
               agent::format_duration(config.sidecar.poll_interval),
               agent::format_size(config.sidecar.max_lag));
  spdlog::info("sidecar: /status error texts {}",
               params.status_token.empty()
                   ? "reduced to categories for every caller (no sidecar.status_token_file)"
                   : "in full only with the bearer token of sidecar.status_token_file");

  // 3. Poll on one thread, serve on this one, until SIGTERM.
  std::thread polling([&poller] { poller.run(); });
  server.run();

  // 4. Stop: the poller's sleep wakes on the same signal; a poll in progress is bounded.
  poller.stop();
  polling.join();
  spdlog::info("sidecar: stopped");
  return 0;
}

}  // namespace replagent::probes
