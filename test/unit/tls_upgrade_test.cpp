// A replica's sidecar switches the interim sslmode=prefer to verify-full once the primary
// verifies (roles/tls_upgrade.hpp): nothing while not pending or TLS is off, no connection to
// the local server before the primary verifies, tries again with backoff, and leaves alone a
// conninfo init did not write as interim. The switch itself on real servers:
// Tls.TurningTlsOnForARunningSetEndsWithReplicasVerifyingThePrimary.
#include "roles/tls_upgrade.hpp"

#include <gtest/gtest.h>

#include "test/unit/fakes.hpp"

namespace replagent::roles {
namespace {

using namespace std::chrono_literals;

agent::Config tls_config() {
  agent::Config c;
  c.postgres.tls_cert_file = "/tls/tls.crt";
  c.postgres.tls_key_file = "/tls/tls.key";
  c.postgres.tls_ca_file = "/tls/ca.crt";
  return c;
}

class TlsUpgradeTest : public ::testing::Test {
 protected:
  TlsUpgradeEffects effects() {
    TlsUpgradeEffects e;
    e.pending = [this] { return pending; };
    e.verify_primary = [this]() -> std::optional<std::string> {
      ++verifications;
      if (primary_verifies) return std::nullopt;
      return std::string("server does not support SSL, but SSL was required");
    };
    e.record_verified = [this] { ++recorded; };
    return e;
  }
  bool pending = true;
  bool primary_verifies = false;
  int verifications = 0;
  int recorded = 0;
  fakes::FakePgClient pg;
  fakes::FakeClock clock;
};

TEST_F(TlsUpgradeTest, NothingWhenTlsIsOffOrNotPending) {
  TlsUpgrade off(agent::Config{}, pg, clock, effects());
  off.review("/run/postgresql");
  EXPECT_EQ(verifications, 0);

  pending = false;
  TlsUpgrade done(tls_config(), pg, clock, effects());
  done.review("/run/postgresql");
  EXPECT_TRUE(done.finished());
  pending = true;
  done.review("/run/postgresql");  // finished: not looked at again
  EXPECT_EQ(verifications, 0);
  EXPECT_TRUE(pg.connect_calls.empty());
}

TEST_F(TlsUpgradeTest, WaitsForThePrimaryWithBackoffWithoutTouchingTheServer) {
  TlsUpgrade u(tls_config(), pg, clock, effects());
  u.review("/run/postgresql");
  EXPECT_EQ(verifications, 1);
  u.review("/run/postgresql");  // within the backoff
  EXPECT_EQ(verifications, 1);
  clock.advance(2s);
  u.review("/run/postgresql");
  EXPECT_EQ(verifications, 2);
  clock.advance(2s);  // the second wait is 4 s
  u.review("/run/postgresql");
  EXPECT_EQ(verifications, 2);
  clock.advance(2s);
  u.review("/run/postgresql");
  EXPECT_EQ(verifications, 3);
  EXPECT_TRUE(pg.connect_calls.empty());
  EXPECT_FALSE(u.finished());
  EXPECT_EQ(recorded, 0);
}

TEST_F(TlsUpgradeTest, AConninfoInitDidNotWriteAsInterimIsLeftAlone) {
  // The fake server answers SHOW with no row: not the interim conninfo.
  primary_verifies = true;
  TlsUpgrade u(tls_config(), pg, clock, effects());
  u.review("/run/postgresql");
  EXPECT_TRUE(u.finished());
  EXPECT_EQ(recorded, 0);
  ASSERT_EQ(pg.sql.size(), 1u);
  EXPECT_EQ(pg.sql[0], "SHOW primary_conninfo");
}

TEST_F(TlsUpgradeTest, AFailingServerIsTriedAgainLater) {
  primary_verifies = true;
  pg.server.connect_error = agent::PgError{"", "connection refused"};
  TlsUpgrade u(tls_config(), pg, clock, effects());
  u.review("/run/postgresql");
  EXPECT_FALSE(u.finished());
  pg.server.connect_error.reset();
  clock.advance(2s);
  u.review("/run/postgresql");
  EXPECT_TRUE(u.finished());
  EXPECT_EQ(pg.connect_calls.size(), 2u);
}

}  // namespace
}  // namespace replagent::roles
