#include "roles/password_sync.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent/topology.hpp"
#include "roles/pg_roles.hpp"

namespace replagent::roles {

namespace {
constexpr std::chrono::milliseconds kFirstRetry{5000};
constexpr std::chrono::milliseconds kMaxRetry{60000};
}  // namespace

PasswordSync::PasswordSync(agent::Config config, agent::PgClient& pg, agent::Clock& clock,
                           PasswordReader read)
    : config_(std::move(config)), pg_(pg), clock_(clock), read_(std::move(read)) {}

std::string PasswordSync::fingerprint(const agent::Config& c) {
  const auto& p = c.postgres;
  // Lengths first: no concatenation of two different tuples is the same string.
  std::string out;
  for (const auto* s :
       {&p.replication_password, &p.monitor_password, &p.backup_password, &p.app_password})
    out += std::to_string(s->reveal().size()) + ":" + s->reveal();
  return out;
}

std::optional<agent::Config> PasswordSync::read_files() {
  agent::Config c = config_;
  auto& p = c.postgres;
  p.superuser_password = agent::Secret();  // init's alone (see the header)
  const struct {
    const std::string& path;
    agent::Secret& into;
    const char* key;
  } files[] = {
      {p.replication_password_file, p.replication_password, "postgres.replication_password_file"},
      {p.monitor_password_file, p.monitor_password, "postgres.monitor_password_file"},
      {p.backup_password_file, p.backup_password, "postgres.backup_password_file"},
      // The application's too: a rotated Secret must not wait for the primary's restart.
      {p.app_password_file, p.app_password, "postgres.app_password_file"},
  };
  for (const auto& f : files) {
    if (f.path.empty()) continue;  // a password from the environment or none: left as loaded
    try {
      f.into = read_(f.path, f.key);
    } catch (const std::exception& e) {
      if (last_error_ != e.what())
        spdlog::warn("password sync: {}; roles left as they are", e.what());
      last_error_ = e.what();
      return std::nullopt;
    }
  }
  return c;
}

void PasswordSync::review(bool is_primary, const std::string& socket_dir) {
  if (!is_primary || clock_.now() < retry_at_) return;
  auto wanted = read_files();
  if (!wanted) return;
  const std::string now = fingerprint(*wanted);
  if (applied_fingerprint_ == now) return;

  auto fail = [&](const std::string& why) {
    backoff_ = backoff_.count() == 0 ? kFirstRetry : std::min(kMaxRetry, backoff_ * 2);
    retry_at_ = clock_.now() + backoff_;
    if (why != last_error_)
      spdlog::warn("password sync: {}; retrying every {} s at most", why,
                   std::chrono::duration_cast<std::chrono::seconds>(kMaxRetry).count());
    last_error_ = why;
  };
  std::string why;
  auto session =
      agent::connect_local_superuser(pg_, config_, socket_dir, "replagent-sidecar-passwords", &why);
  if (!session) return fail(why);
  if (auto e = reconcile_roles(*session, *wanted)) return fail(*e);

  spdlog::info("password sync: roles {}, {}, {}{} in step with their Secret files{}",
               config_.postgres.replication_user, config_.postgres.monitor_user,
               config_.postgres.backup_user,
               config_.postgres.app_user.empty() ? "" : ", " + config_.postgres.app_user,
               applied_fingerprint_ ? " (a rotated password is now in effect)" : "");
  applied_fingerprint_ = now;
  ++applied_;
  last_error_.clear();
  backoff_ = std::chrono::milliseconds(0);
}

}  // namespace replagent::roles
