// The sidecar's TLS reload decision (roles/tls_reload.hpp) with fakes, and what init writes
// when TLS is on (roles/pg_files.hpp, roles/clone.hpp).
#include "roles/tls_reload.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "agent/errors.hpp"
#include "roles/clone.hpp"
#include "roles/pg_files.hpp"
#include "test/unit/fakes.hpp"

namespace replagent::roles {
namespace {

using namespace std::chrono_literals;

// The sidecar's reload decision: reload once at start, then only when the files change and
// pass the checks; a failing check never reloads and is logged once.
class TlsReloadTest : public ::testing::Test {
 protected:
  TlsReloadTest() {
    config.postgres.tls_cert_file = "/tls/tls.crt";
    config.postgres.tls_key_file = "/tls/tls.key";
    config.postgres.tls_ca_file = "/tls/ca.crt";
  }
  TlsReloadEffects effects() {
    return {[this] {
              ++reads;
              if (!readable)
                throw agent::usage_error("postgres.tls_cert_file /tls/tls.crt: cannot read it");
              return files;
            },
            [this](const agent::TlsMaterial& m) -> std::optional<std::string> {
              ++checks;
              if (m.cert_pem == "expired")
                return "postgres.tls_cert_file /tls/tls.crt: expired on x";
              return std::nullopt;
            }};
  }
  int reloads_sent() const {
    int n = 0;
    for (const auto& s : pg.sql) n += s == "SELECT pg_catalog.pg_reload_conf()";
    return n;
  }
  agent::Config config;
  agent::TlsMaterial files{"cert1", "key1", "ca1"};
  bool readable = true;
  int reads = 0;
  int checks = 0;
  fakes::FakePgClient pg;
  fakes::FakeClock clock;
};

TEST_F(TlsReloadTest, ReloadsAtStartThenOnlyWhenTheFilesChange) {
  TlsReload reload(config, pg, clock, effects());
  reload.review("/run/pg");
  ASSERT_EQ(pg.connect_calls.size(), 1u);
  EXPECT_EQ(pg.connect_calls[0].host, "/run/pg") << "the local socket";
  EXPECT_EQ(pg.connect_calls[0].user, "postgres") << "the superuser, by peer authentication";
  EXPECT_TRUE(pg.connect_calls[0].password.empty());
  EXPECT_EQ(reloads_sent(), 1);
  for (int i = 0; i < 5; ++i) reload.review("/run/pg");
  EXPECT_EQ(reloads_sent(), 1) << "unchanged files";
  EXPECT_EQ(checks, 1) << "unchanged files are not re-checked";

  files.cert_pem = "cert2";  // rotated, new serial
  reload.review("/run/pg");
  EXPECT_EQ(reloads_sent(), 2);
  files.ca_pem = "ca2";  // the CA alone rotates too
  reload.review("/run/pg");
  EXPECT_EQ(reloads_sent(), 3);
  EXPECT_EQ(reload.reloads(), 3u);
}

TEST_F(TlsReloadTest, AFailingCheckNeverReloadsAndAFixLater) {
  TlsReload reload(config, pg, clock, effects());
  reload.review("/run/pg");
  files.cert_pem = "expired";
  for (int i = 0; i < 3; ++i) reload.review("/run/pg");
  EXPECT_EQ(reloads_sent(), 1) << "a broken rotation never reaches the server";
  EXPECT_EQ(checks, 4) << "re-checked each poll, no backoff: a fix is picked up at once";
  readable = false;  // mid-swap
  reload.review("/run/pg");
  EXPECT_EQ(reloads_sent(), 1);
  readable = true;
  files.cert_pem = "cert3";
  reload.review("/run/pg");
  EXPECT_EQ(reloads_sent(), 2);
}

TEST_F(TlsReloadTest, AFailedReloadBacksOff) {
  TlsReload reload(config, pg, clock, effects());
  pg.server.connect_error = agent::PgError{"28000", "Peer authentication failed"};
  reload.review("/run/pg");
  reload.review("/run/pg");
  EXPECT_EQ(pg.connect_calls.size(), 1u) << "waits for the backoff";
  clock.advance(5s);
  pg.server.connect_error.reset();
  reload.review("/run/pg");
  EXPECT_EQ(reloads_sent(), 1);
}

// What init writes when TLS is on: the server's ssl settings (each an owned parameter),
// replication over TLS only, and replicas that verify the primary's name against the CA.
TEST(TlsFilesWritten, ServerSettingsHbaAndConninfo) {
  agent::Config c;
  c.pod.name = "todo-db-1";
  const std::string off_include = render_include(c);
  const std::string off_hba = render_hba_block(c);
  EXPECT_EQ(off_include.find("ssl"), std::string::npos) << "TLS stays off by default";
  EXPECT_EQ(off_hba.find("hostssl"), std::string::npos);

  c.postgres.tls_cert_file = "/etc/replagent/tls/tls.crt";
  c.postgres.tls_key_file = "/etc/replagent/tls/tls.key";
  c.postgres.tls_ca_file = "/etc/replagent/tls/ca.crt";
  const std::string include = render_include(c);
  for (const char* line : {"ssl = on\n", "ssl_cert_file = '/etc/replagent/tls/tls.crt'\n",
                           "ssl_key_file = '/etc/replagent/tls/tls.key'\n",
                           "ssl_ca_file = '/etc/replagent/tls/ca.crt'\n"})
    EXPECT_NE(include.find(line), std::string::npos) << line << include;
  for (const char* name : {"ssl", "ssl_cert_file", "ssl_key_file", "ssl_ca_file"}) {
    bool owned = false;
    for (const auto& o : agent::owned_parameters()) owned |= std::string(o.name) == name;
    EXPECT_TRUE(owned) << name << " is written by init, so postgres.parameters may not set it";
  }
  const std::string hba = render_hba_block(c);
  EXPECT_NE(hba.find("hostssl replication     \"replicator\"    0.0.0.0/0"), std::string::npos)
      << hba;
  EXPECT_EQ(hba.find("host    replication     \"replicator\""), std::string::npos)
      << "replication in clear is not admitted:\n"
      << hba;
  EXPECT_NE(hba.find("host    replication     all             all                     reject"),
            std::string::npos);

  PrimaryConnInfo info{"todo-db-0.todo-db.default.svc.cluster.local",
                       "10.0.0.5",
                       5432,
                       "replicator",
                       "/pgdata/replagent.pgpass",
                       "todo-db-1",
                       c.postgres.tls_ca_file};
  const std::string conninfo = render_primary_conninfo(info);
  EXPECT_NE(conninfo.find("host='todo-db-0.todo-db.default.svc.cluster.local' hostaddr='10.0.0.5'"),
            std::string::npos)
      << "verify-full checks host= even with hostaddr pinned";
  EXPECT_NE(conninfo.find(" sslmode=verify-full sslrootcert='/etc/replagent/tls/ca.crt'"),
            std::string::npos)
      << conninfo;
  info.ssl_root_cert.clear();
  EXPECT_EQ(render_primary_conninfo(info).find("ssl"), std::string::npos);

  CloneRequest req;
  req.host = info.host;
  req.hostaddr = "10.0.0.5";
  req.ssl_root_cert = c.postgres.tls_ca_file;
  const auto spec = build_basebackup(req);
  EXPECT_NE(spec.args.back().find("sslmode=verify-full sslrootcert='/etc/replagent/tls/ca.crt'"),
            std::string::npos)
      << spec.args.back();
}

TEST_F(TlsReloadTest, TlsOffDoesNothing) {
  TlsReload reload(agent::Config{}, pg, clock, effects());
  reload.review("/run/pg");
  EXPECT_EQ(reads, 0);
  EXPECT_TRUE(pg.connect_calls.empty());
}

}  // namespace
}  // namespace replagent::roles
