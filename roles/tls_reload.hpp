#pragma once

// Every pod's sidecar reloads its server when the mounted TLS files change, so a rotated
// certificate is served without a restart.
//
// cert-manager (or a person) renews the Secret; the kubelet swaps the files in place (the
// volume's ..data symlink, about a minute later). PostgreSQL reads ssl_cert_file and friends at
// start and at each reload (SIGHUP), never by itself, so until something reloads it keeps
// serving the old certificate, up to its expiry. The sidecar notices the change by a digest of
// the three files at each poll, checks them exactly as init does (agent/tls.hpp: a key that
// does not match, an expired certificate or one replicas cannot verify would leave the server
// on its old certificate at best: PostgreSQL keeps the previous SSL context when a reload
// fails, and says so only in its log), then runs `SELECT pg_reload_conf()` over the local
// socket as the superuser by peer authentication, as password_sync does. A failing check is
// logged once per distinct problem and retried at each poll without a reload; a failing
// reload backs off. The first review after start reloads too: the files may have changed
// between the server's start and the sidecar's.
//
// Replicas reload as well: each serves its own certificate (clients, and clones from it).
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "agent/clock.hpp"
#include "agent/config.hpp"
#include "agent/pg.hpp"
#include "agent/tls.hpp"

namespace replagent::roles {

struct TlsReloadEffects {
  // The three files now (agent::read_tls_files); throws AgentError naming the key and path.
  std::function<agent::TlsMaterial()> read;
  // The problem with them ("postgres.tls_cert_file ...: expired on ..."), or nullopt.
  std::function<std::optional<std::string>(const agent::TlsMaterial&)> check;
};

// The real files of `config`, checked at the wall clock's now for this pod's names.
TlsReloadEffects real_tls_effects(const agent::Config& config);

class TlsReload {
 public:
  TlsReload(agent::Config config, agent::PgClient& pg, agent::Clock& clock,
            TlsReloadEffects effects);

  // Called after each of the sidecar's polls while the server answers. Does nothing when TLS
  // is off (postgres.tls_* empty), while a failed reload backs off, or when the files are
  // those last reloaded.
  void review(const std::string& socket_dir);

  // Reloads that succeeded since start (the first one included).
  std::uint64_t reloads() const { return reloads_; }

 private:
  void note(const std::string& problem, bool back_off);

  agent::Config config_;
  agent::PgClient& pg_;
  agent::Clock& clock_;
  TlsReloadEffects effects_;
  std::optional<std::string> applied_fingerprint_;
  std::uint64_t reloads_ = 0;
  std::string last_problem_;
  std::chrono::steady_clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_{0};
};

}  // namespace replagent::roles
