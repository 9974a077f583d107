// The TLS files' checks (agent/tls.hpp) on PEM text and on disk, and their expiry as the sidecar
// exports it; the sidecar's reload decision is tls_reload_test.cpp's. The certificates below were
// made once with the openssl CLI (EC P-256; valid 2026-11-30 to 2036-11-27), so each check runs
// at a fixed `now`:
//   ca.crt, ca2.crt        two self-signed CAs ("todo-db CA", "impostor CA")
//   ok.crt                 leaf.key's, by ca, SANs *.todo-db.default.svc.cluster.local and
//                          todo-db-rw.default.svc.cluster.local
//   narrow.crt             the same key, by ca, SAN todo-db-0.todo-db.default.svc.cluster.local
//   impostor.crt           as ok.crt, but by ca2
//   nosan.crt              the same key, by ca, no subjectAltName
#include "agent/tls.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/errors.hpp"
#include "test/unit/fakes.hpp"

namespace replagent::agent {
namespace {

using namespace std::chrono_literals;

constexpr const char* kCa = R"(-----BEGIN CERTIFICATE-----
MIIBfjCCASWgAwIBAgIUPRnTUeOEDGhggiBDcOM/VbTPidQwCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKdG9kby1kYiBDQTAeFw0yNjExMzAwNTQ1MDlaFw0zNjExMjcw
NTQ1MDlaMBUxEzARBgNVBAMMCnRvZG8tZGIgQ0EwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAARbjHihqqVEVPkN59gzOrMcMks2Y6UhHrqbH+rN7p+AlmGEwqD/hl2m
1AxK94NINxzXJ/87DZ3DR/1HxgDdJtR3o1MwUTAdBgNVHQ4EFgQUuFmEMr87up+2
o6OS+Wm6z6zyZbUwHwYDVR0jBBgwFoAUuFmEMr87up+2o6OS+Wm6z6zyZbUwDwYD
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiB/qXqHaPJ+r8Q106wTh4l0
Jxbhlq3vlJ+/sVBofAo6YgIgDEdlba2QI14JUZeW/9rWCYgHc8Ob5+/MLCLhaQ20
VPA=
-----END CERTIFICATE-----
)";
constexpr const char* kOtherCa = R"(-----BEGIN CERTIFICATE-----
MIIBgTCCASegAwIBAgIULozoUwYbMD+GLbtKeyQN5pWUQTswCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLaW1wb3N0b3IgQ0EwHhcNMjYxMTMwMDU0NTA5WhcNMzYxMTI3
MDU0NTA5WjAWMRQwEgYDVQQDDAtpbXBvc3RvciBDQTBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABCLWAQCwHTUOTi08wu2S5Lr7HexEhQdGmcsVW92+4l2Jxhrf7n3e
CuvmizPzGy0YyXRB8+rUn740yzBFdR004pCjUzBRMB0GA1UdDgQWBBRDoSLmgTW1
ToS9vltYmpq8blnjnzAfBgNVHSMEGDAWgBRDoSLmgTW1ToS9vltYmpq8blnjnzAP
BgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQCAXzzR8Yftp7YXaRG0
xEJy0iUJla58baSbX31OhCBCpwIgC3Hl4OViy+kqL8sajSJTRSoA0VUg1+yyesAR
4pRHg7M=
-----END CERTIFICATE-----
)";
constexpr const char* kLeafKey = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgRKNMBzNVsZtgN0Rk
hE1q/QNM3FsziTgK0emHjo8ryGOhRANCAAS6/48vo6c16zTvvCN3knwh2YEoUvgX
fcZ33JtRlq98IeBUTmGhlhdFAjON2bRNdWdYT2spBkGIuAlnu/5z7ycO
-----END PRIVATE KEY-----
)";
constexpr const char* kOtherKey = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgGF7+lDdV+/4kDuSC
/KJGDnKiWBN1kladTJAMJQVFcIKhRANCAARje/PfDx2vqEhI9V5RDLGAu6pAcnNu
ZnSjzXhbhe+zBb4DrM+UKU93oum23phoow9va+ID+IsHT5nraPk4SidT
-----END PRIVATE KEY-----
)";
constexpr const char* kCert = R"(-----BEGIN CERTIFICATE-----
MIIBrzCCAVagAwIBAgIBATAKBggqhkjOPQQDAjAVMRMwEQYDVQQDDAp0b2RvLWRi
IENBMB4XDTI2MTEzMDA1NDUwOVoXDTM2MTEyNzA1NDUwOVowEjEQMA4GA1UEAwwH
dG9kby1kYjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABLr/jy+jpzXrNO+8I3eS
fCHZgShS+Bd9xnfcm1GWr3wh4FROYaGWF0UCM43ZtE11Z1hPaykGQYi4CWe7/nPv
Jw6jgZkwgZYwVAYDVR0RBE0wS4IjKi50b2RvLWRiLmRlZmF1bHQuc3ZjLmNsdXN0
ZXIubG9jYWyCJHRvZG8tZGItcncuZGVmYXVsdC5zdmMuY2x1c3Rlci5sb2NhbDAd
BgNVHQ4EFgQUNhH3Ff7McWdFIB47fg3BnDJvJFswHwYDVR0jBBgwFoAUuFmEMr87
up+2o6OS+Wm6z6zyZbUwCgYIKoZIzj0EAwIDRwAwRAIgMBpgnlkgsxtzRJFY1mr7
nOs8h7j6bwU3yIlkxWo8PesCIBxEUITxlAa5eX1WbREpF7OYde0O0Ka18DpTN/S2
Trkg
-----END CERTIFICATE-----
)";
constexpr const char* kNarrowCert = R"(-----BEGIN CERTIFICATE-----
MIIBkTCCATagAwIBAgIBAjAKBggqhkjOPQQDAjAVMRMwEQYDVQQDDAp0b2RvLWRi
IENBMB4XDTI2MTEzMDA1NDUxMFoXDTM2MTEyNzA1NDUxMFowEjEQMA4GA1UEAwwH
dG9kby1kYjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABLr/jy+jpzXrNO+8I3eS
fCHZgShS+Bd9xnfcm1GWr3wh4FROYaGWF0UCM43ZtE11Z1hPaykGQYi4CWe7/nPv
Jw6jejB4MDYGA1UdEQQvMC2CK3RvZG8tZGItMC50b2RvLWRiLmRlZmF1bHQuc3Zj
LmNsdXN0ZXIubG9jYWwwHQYDVR0OBBYEFDYR9xX+zHFnRSAeO34NwZwybyRbMB8G
A1UdIwQYMBaAFLhZhDK/O7qftqOjkvlpus+s8mW1MAoGCCqGSM49BAMCA0kAMEYC
IQDFVz4WwQXOmeB+EukyFFiOPnniRKMfmWrTiVMhXO2D1wIhANwLSnMImB1bYWaS
0gmOBHAwQ+ZJ2vL9J53yOZxnIpK/
-----END CERTIFICATE-----
)";
constexpr const char* kImpostorCert = R"(-----BEGIN CERTIFICATE-----
MIIBsjCCAVegAwIBAgIBAzAKBggqhkjOPQQDAjAWMRQwEgYDVQQDDAtpbXBvc3Rv
ciBDQTAeFw0yNjExMzAwNTQ1MTBaFw0zNjExMjcwNTQ1MTBaMBIxEDAOBgNVBAMM
B3RvZG8tZGIwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAS6/48vo6c16zTvvCN3
knwh2YEoUvgXfcZ33JtRlq98IeBUTmGhlhdFAjON2bRNdWdYT2spBkGIuAlnu/5z
7ycOo4GZMIGWMFQGA1UdEQRNMEuCIyoudG9kby1kYi5kZWZhdWx0LnN2Yy5jbHVz
dGVyLmxvY2FsgiR0b2RvLWRiLXJ3LmRlZmF1bHQuc3ZjLmNsdXN0ZXIubG9jYWww
HQYDVR0OBBYEFDYR9xX+zHFnRSAeO34NwZwybyRbMB8GA1UdIwQYMBaAFEOhIuaB
NbVOhL2+W1iamrxuWeOfMAoGCCqGSM49BAMCA0kAMEYCIQDN+Sti6Mu7CCC7hN/7
F4Ye5U1wmwk+avPngnoh/5ZBygIhAIA6yWxlfkU0SuQvDiSErpqk8gHv6L1sEH4H
T45ynYzh
-----END CERTIFICATE-----
)";
constexpr const char* kNoSanCert = R"(-----BEGIN CERTIFICATE-----
MIIBDTCBtQIBBDAKBggqhkjOPQQDAjAVMRMwEQYDVQQDDAp0b2RvLWRiIENBMB4X
DTI2MTEzMDA1NDUxMFoXDTM2MTEyNzA1NDUxMFowEjEQMA4GA1UEAwwHdG9kby1k
YjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABLr/jy+jpzXrNO+8I3eSfCHZgShS
+Bd9xnfcm1GWr3wh4FROYaGWF0UCM43ZtE11Z1hPaykGQYi4CWe7/nPvJw4wCgYI
KoZIzj0EAwIDRwAwRAIgW74GKU94C3M6sjOgyQsjjyyh/nthMRPSetHYd7uMgigC
IGpuELDi2WKT2Wz+teBaOO874yM7fT7W9jcsHvpVtzdL
-----END CERTIFICATE-----
)";

const auto kValidNow = std::chrono::system_clock::from_time_t(1811808000);    // 2027-06-01
const auto kLaterNow = std::chrono::system_clock::from_time_t(2114380800);    // 2037-01-01
const auto kEarlierNow = std::chrono::system_clock::from_time_t(1767225600);  // 2026-01-01
const std::vector<std::string> kPod1 = {"todo-db-1.todo-db.default.svc.cluster.local"};

std::optional<TlsProblem> check(const char* cert, const char* key, const char* ca,
                                std::chrono::system_clock::time_point now = kValidNow,
                                const std::vector<std::string>& names = kPod1) {
  return check_tls_material(TlsMaterial{cert, key, ca}, names, now);
}

TEST(TlsCheck, AMatchingValidCoveringCertificateOfTheCaPasses) {
  EXPECT_EQ(check(kCert, kLeafKey, kCa), std::nullopt);
  // A CA file may hold several CAs (during a CA rotation): either will do.
  EXPECT_EQ(check(kCert, kLeafKey, (std::string(kOtherCa) + kCa).c_str()), std::nullopt);
  // The chain file may carry the CA after the leaf.
  EXPECT_EQ(check((std::string(kCert) + kCa).c_str(), kLeafKey, kCa), std::nullopt);
}

TEST(TlsCheck, EachProblemNamesItsFile) {
  struct Case {
    const char* what;
    std::string cert, key, ca;
    std::chrono::system_clock::time_point now;
    TlsFile file;
    std::string says;
  } cases[] = {
      {"expired", kCert, kLeafKey, kCa, kLaterNow, TlsFile::kCert, "expired on 2036-11-27"},
      {"not yet valid", kCert, kLeafKey, kCa, kEarlierNow, TlsFile::kCert,
       "not valid before 2026-11-30"},
      {"other key", kCert, kOtherKey, kCa, kValidNow, TlsFile::kKey,
       "does not match the certificate"},
      {"narrow SANs", kNarrowCert, kLeafKey, kCa, kValidNow, TlsFile::kCert,
       "SANs (todo-db-0.todo-db.default.svc.cluster.local) do not cover "
       "todo-db-1.todo-db.default.svc.cluster.local"},
      {"no SANs", kNoSanCert, kLeafKey, kCa, kValidNow, TlsFile::kCert,
       "has no DNS subjectAltName"},
      {"other CA", kImpostorCert, kLeafKey, kCa, kValidNow, TlsFile::kCa,
       "does not verify against this CA"},
      {"CA not PEM", kCert, kLeafKey, "not a certificate", kValidNow, TlsFile::kCa,
       "no PEM certificate"},
      {"cert not PEM", "", kLeafKey, kCa, kValidNow, TlsFile::kCert, "no PEM certificate"},
      {"key not PEM", kCert, "garbage", kCa, kValidNow, TlsFile::kKey,
       "no unencrypted PEM private key"},
      {"cert given as key", kCert, kCert, kCa, kValidNow, TlsFile::kKey,
       "no unencrypted PEM private key"},
  };
  for (const auto& c : cases) {
    const auto p = check_tls_material(TlsMaterial{c.cert, c.key, c.ca}, kPod1, c.now);
    ASSERT_TRUE(p.has_value()) << c.what;
    EXPECT_EQ(p->file, c.file) << c.what << ": " << p->problem;
    EXPECT_NE(p->problem.find(c.says), std::string::npos) << c.what << ": " << p->problem;
  }
}

TEST(TlsCheck, SanMatchingIsRfc6125s) {
  struct Case {
    const char* pattern;
    const char* name;
    bool matches;
  } cases[] = {
      {"todo-db-1.todo-db.default.svc.cluster.local", "todo-db-1.todo-db.default.svc.cluster.local",
       true},
      {"TODO-DB-1.todo-db.default.svc.cluster.local", "todo-db-1.todo-db.default.svc.cluster.local",
       true},
      {"*.todo-db.default.svc.cluster.local", "todo-db-1.todo-db.default.svc.cluster.local", true},
      // One label only, and only the whole left-most one.
      {"*.default.svc.cluster.local", "todo-db-1.todo-db.default.svc.cluster.local", false},
      {"*.todo-db.default.svc.cluster.local", "todo-db.default.svc.cluster.local", false},
      {"todo-*.todo-db.default.svc.cluster.local", "todo-db-1.todo-db.default.svc.cluster.local",
       false},
      {"todo-db-1.*.default.svc.cluster.local", "todo-db-1.todo-db.default.svc.cluster.local",
       false},
      {"*", "localhost", false},
      {"", "", false},
  };
  for (const auto& c : cases)
    EXPECT_EQ(san_matches(c.pattern, c.name), c.matches) << c.pattern << " vs " << c.name;
}

// libpq's words for a server the client must not talk to, as opposed to one still starting.
TEST(TlsCheck, RefusalsAreToldFromServersNotAnswering) {
  for (const char* refusal :
       {"SSL error: certificate verify failed",
        "server certificate for \"db.example\" does not match host name \"todo-db-0.todo-db\"",
        "server does not support SSL, but SSL was required"}) {
    EXPECT_TRUE(is_tls_refusal(refusal)) << refusal;
  }
  for (const char* other :
       {"connection to server at \"10.0.0.1\", port 5432 failed: Connection refused",
        "FATAL:  the database system is starting up", "timeout expired", ""}) {
    EXPECT_FALSE(is_tls_refusal(other)) << other;
  }
}

TEST(TlsCheck, TheRequiredNameIsThePodsHeadlessServiceName) {
  Config c;
  c.pod.name = "todo-db-1";
  c.pod.service = "todo-db";
  EXPECT_EQ(tls_required_names(c), kPod1);
  c.pod.namespace_ = "shop";
  c.pod.service = "db-hl";
  c.pod.cluster_domain = "k8s.example";
  EXPECT_EQ(tls_required_names(c),
            std::vector<std::string>{"todo-db-1.db-hl.shop.svc.k8s.example"});
}

TEST(TlsCheck, TheFingerprintChangesWithAnyFile) {
  const TlsMaterial m{kCert, kLeafKey, kCa};
  EXPECT_EQ(tls_fingerprint(m), tls_fingerprint(m));
  EXPECT_NE(tls_fingerprint(m), tls_fingerprint(TlsMaterial{kNarrowCert, kLeafKey, kCa}));
  EXPECT_NE(tls_fingerprint(m), tls_fingerprint(TlsMaterial{kCert, kOtherKey, kCa}));
  EXPECT_NE(tls_fingerprint(m), tls_fingerprint(TlsMaterial{kCert, kLeafKey, kOtherCa}));
  EXPECT_EQ(tls_fingerprint(m).find("PRIVATE"), std::string::npos);
}

// The files on disk: named by key and path; the key file's mode as PostgreSQL checks it.
class TlsFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    write("tls.crt", kCert, 0644);
    write("tls.key", kLeafKey, 0600);
    write("ca.crt", kCa, 0644);
    config.pod.name = "todo-db-1";
    config.pod.service = "todo-db";
    config.postgres.tls_cert_file = (dir.path() / "tls.crt").string();
    config.postgres.tls_key_file = (dir.path() / "tls.key").string();
    config.postgres.tls_ca_file = (dir.path() / "ca.crt").string();
  }
  void write(const std::string& name, const std::string& text, std::filesystem::perms mode) {
    std::ofstream(dir.path() / name) << text;
    std::filesystem::permissions(dir.path() / name, mode);
  }
  void write(const std::string& name, const std::string& text, int mode) {
    write(name, text, static_cast<std::filesystem::perms>(mode));
  }
  std::string error_of() {
    try {
      check_tls_files(config, kValidNow);
    } catch (const AgentError& e) {
      EXPECT_EQ(e.code(), ExitCode::kUsage);
      return e.what();
    }
    return "";
  }
  fakes::TempDir dir;
  Config config;
};

TEST_F(TlsFiles, GoodFilesPassAndTlsOffChecksNothing) {
  EXPECT_EQ(error_of(), "");
  EXPECT_TRUE(config.postgres.tls());
  EXPECT_NO_THROW(check_tls_files(Config{}, kValidNow));
}

TEST_F(TlsFiles, MessagesNameTheKeyThePathAndTheProblem) {
  write("tls.crt", kNarrowCert, 0644);
  EXPECT_EQ(error_of(), "postgres.tls_cert_file " + config.postgres.tls_cert_file +
                            ": SANs (todo-db-0.todo-db.default.svc.cluster.local) do not cover "
                            "todo-db-1.todo-db.default.svc.cluster.local (the name replicas "
                            "verify with sslmode=verify-full)");
  write("tls.crt", kCert, 0644);
  write("tls.key", kOtherKey, 0600);
  EXPECT_NE(
      error_of().find("postgres.tls_key_file " + config.postgres.tls_key_file + ": does not match"),
      std::string::npos);
  std::filesystem::remove(config.postgres.tls_ca_file);
  EXPECT_NE(error_of().find("postgres.tls_ca_file " + config.postgres.tls_ca_file +
                            ": cannot read it: No such file or directory"),
            std::string::npos);
}

TEST_F(TlsFiles, AKeyReadableByOthersIsRefusedAsPostgreSQLWould) {
  if (::geteuid() == 0) GTEST_SKIP() << "root owns the file: the 0640 rule applies";
  write("tls.key", kLeafKey, 0640);
  EXPECT_NE(error_of().find("mode 0640 lets group or others read it"), std::string::npos)
      << error_of();
}

// load_config: the three keys together or none (paths only: the files are init's to check),
// and postgres.parameters may not set what they set.
TEST(TlsConfig, AllThreeKeysOrNoneAndTheSslParametersAreOwned) {
  auto error_of = [](std::map<std::string, std::string> env) -> std::string {
    ConfigInputs in;
    in.default_file = "/nonexistent/replagent.toml";
    in.hostname = "todo-db-1";
    in.env = std::move(env);
    try {
      load_config(in);
    } catch (const AgentError& e) {
      EXPECT_EQ(e.code(), ExitCode::kUsage);
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error_of({}), "");
  EXPECT_EQ(error_of({{"REPLAGENT_POSTGRES_TLS_CERT_FILE", "/tls/tls.crt"},
                      {"REPLAGENT_POSTGRES_TLS_KEY_FILE", "/tls/tls.key"},
                      {"REPLAGENT_POSTGRES_TLS_CA_FILE", "/tls/ca.crt"}}),
            "");
  const std::string missing = error_of({{"REPLAGENT_POSTGRES_TLS_CERT_FILE", "/tls/tls.crt"},
                                        {"REPLAGENT_POSTGRES_TLS_CA_FILE", "/tls/ca.crt"}});
  EXPECT_EQ(missing.rfind("postgres.tls_key_file is not set", 0), 0u) << missing;
  const std::string owned =
      error_of({{"REPLAGENT_POSTGRES_PARAMETERS", "{ ssl_cert_file = '/x' }"}});
  EXPECT_NE(owned.find("use postgres.tls_cert_file"), std::string::npos) << owned;
}

TEST_F(TlsFiles, AllThreeOrNone) {
  config.postgres.tls_ca_file.clear();
  EXPECT_NE(error_of().find("postgres.tls_ca_file is not set"), std::string::npos) << error_of();
}

// When kCa and kCert end (Nov 27 05:45:09 2036 GMT, `openssl x509 -noout -enddate`); kNarrowCert
// was signed a second later and ends a second later.
const auto kCaEnds = std::chrono::system_clock::from_time_t(2111377509);
const auto kNarrowEnds = kCaEnds + 1s;

// notAfter as the sidecar exports it (replagent_tls_certificate_expiry_timestamp_seconds): of
// the first certificate, the server's in tls.crt (intermediates follow it), the first CA.
TEST(TlsExpiry, NotAfterOfTheFirstCertificate) {
  EXPECT_EQ(certificate_not_after(kCa), kCaEnds);
  EXPECT_EQ(certificate_not_after(kNarrowCert), kNarrowEnds);
  EXPECT_EQ(certificate_not_after(std::string(kNarrowCert) + kCa), kNarrowEnds);
  EXPECT_EQ(certificate_not_after(std::string(kCa) + kNarrowCert), kCaEnds);
  EXPECT_EQ(certificate_not_after(""), std::nullopt);
  EXPECT_EQ(certificate_not_after(kLeafKey), std::nullopt);
}

// The files as they are now, each read again (a renewal shows at once); a missing file or TLS
// off gives no value and never throws (the sidecar's poller calls it).
TEST_F(TlsFiles, ExpiryIsThatOfTheFilesOnDiskNow) {
  auto e = read_tls_expiry(config);
  EXPECT_EQ(e.cert, kCaEnds);
  EXPECT_EQ(e.ca, kCaEnds);
  write("tls.crt", kNarrowCert, 0644);
  e = read_tls_expiry(config);
  EXPECT_EQ(e.cert, kNarrowEnds);
  EXPECT_EQ(e.ca, kCaEnds);
  std::filesystem::remove(config.postgres.tls_ca_file);
  e = read_tls_expiry(config);
  EXPECT_EQ(e.cert, kNarrowEnds);
  EXPECT_EQ(e.ca, std::nullopt);
  e = read_tls_expiry(Config{});
  EXPECT_EQ(e.cert, std::nullopt);
  EXPECT_EQ(e.ca, std::nullopt);
}

}  // namespace
}  // namespace replagent::agent
