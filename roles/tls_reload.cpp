#include "roles/tls_reload.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent/topology.hpp"

namespace replagent::roles {

namespace {
constexpr std::chrono::milliseconds kFirstRetry{5000};
constexpr std::chrono::milliseconds kMaxRetry{60000};
}  // namespace

TlsReloadEffects real_tls_effects(const agent::Config& config) {
  TlsReloadEffects e;
  e.read = [config] { return agent::read_tls_files(config).value_or(agent::TlsMaterial{}); };
  e.check = [config](const agent::TlsMaterial& m) -> std::optional<std::string> {
    auto problem = agent::check_tls_material(m, agent::tls_required_names(config),
                                             std::chrono::system_clock::now());
    if (!problem) return std::nullopt;
    return fmt::format("{} {}: {}", agent::tls_key_name(problem->file),
                       agent::tls_path(config, problem->file), problem->problem);
  };
  return e;
}

TlsReload::TlsReload(agent::Config config, agent::PgClient& pg, agent::Clock& clock,
                     TlsReloadEffects effects)
    : config_(std::move(config)), pg_(pg), clock_(clock), effects_(std::move(effects)) {}

void TlsReload::note(const std::string& problem, bool back_off) {
  if (back_off) {
    backoff_ = backoff_.count() == 0 ? kFirstRetry : std::min(kMaxRetry, backoff_ * 2);
    retry_at_ = clock_.now() + backoff_;
  }
  if (problem != last_problem_)
    spdlog::warn("TLS reload: {}; the server keeps its current certificate{}", problem,
                 back_off ? "; retrying" : " until the files are fixed");
  last_problem_ = problem;
}

void TlsReload::review(const std::string& socket_dir) {
  if (!config_.postgres.tls() || clock_.now() < retry_at_) return;
  // 1. The files now, and whether they differ from those last reloaded.
  agent::TlsMaterial files;
  try {
    files = effects_.read();
  } catch (const std::exception& e) {
    return note(e.what(), false);  // mid-rotation or unmounted: looked at again next poll
  }
  const std::string fingerprint = agent::tls_fingerprint(files);
  if (applied_fingerprint_ == fingerprint) return;

  // 2. The checks init makes: a broken rotation never reaches the server.
  if (auto problem = effects_.check(files)) return note(*problem, false);

  // 3. Reload over the local socket as the superuser (peer authentication, no password).
  std::string why;
  auto session =
      agent::connect_local_superuser(pg_, config_, socket_dir, "replagent-sidecar-tls", &why);
  if (!session) return note(why, true);
  if (auto e = session->exec("SELECT pg_catalog.pg_reload_conf()"))
    return note(fmt::format("pg_reload_conf() on the server at {}: {}", socket_dir, e->message),
                true);

  spdlog::info("TLS reload: the server reloaded {} ({}){}", config_.postgres.tls_cert_file,
               applied_fingerprint_ ? "rotated files checked" : "at sidecar start",
               applied_fingerprint_ ? ": new connections get the new certificate" : "");
  applied_fingerprint_ = fingerprint;
  ++reloads_;
  last_problem_.clear();
  backoff_ = std::chrono::milliseconds(0);
}

}  // namespace replagent::roles
