// TLS on real servers (agent/tls.hpp, roles/tls_reload.hpp): a CA and certificates made with
// the openssl CLI in the test's scratch directory, mounted as the chart mounts its TLS Secret
// (tls.crt, tls.key, ca.crt; here owned by the server's user, the key 0600). Replicas stream
// over TLS and verify their primary (sslmode=verify-full); a replica that trusts another CA
// refuses the primary; init refuses an expired, mis-named or mismatched certificate before
// touching the volume; the sidecar serves rotated files after a reload, not a restart; TLS
// turned on for a running set (replicas first, the primary last) ends with every replica
// verifying its primary, and never goes back.
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "test/support/prometheus.hpp"
#include "test/support/sidecar.hpp"

namespace replagent::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* kOpenssl = "/usr/bin/openssl";
// Every pod of the set in the test's namespace: the wildcard the chart's certificate carries.
constexpr const char* kPodsWildcard = "*.todo-db.default.svc.cluster.local";

class Tls : public SidecarTest {
 protected:
  void SetUp() override {
    SidecarTest::SetUp();
    pki_ = scratch() / "pki";
    fs::create_directories(pki_);
  }

  RunResult openssl(const std::vector<std::string>& args) {
    SpawnOptions o;
    o.argv = {kOpenssl};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    return run_process(o, 30s);
  }
  void must(const std::vector<std::string>& args) {
    RunResult r = openssl(args);
    ASSERT_EQ(r.exit_code(), 0) << "openssl " << args.front() << ": " << r.err;
  }

  // A self-signed CA named `name` (pki/<name>.crt, .key).
  void make_ca(const std::string& name) {
    must({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out",
          (pki_ / (name + ".key")).string()});
    must({"req", "-x509", "-new", "-key", (pki_ / (name + ".key")).string(), "-subj", "/CN=" + name,
          "-days", "30", "-out", (pki_ / (name + ".crt")).string()});
  }
  // A key pki/<name>.key.
  void make_key(const std::string& name) {
    must({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out",
          (pki_ / (name + ".key")).string()});
  }
  // pki/<name>.crt for key pki/<key>.key, issued by CA `ca`, with DNS SANs `sans`.
  void issue(const std::string& name, const std::string& key, const std::string& ca,
             const std::string& sans, int serial, int days = 30) {
    const auto csr = pki_ / (name + ".csr");
    const auto ext = pki_ / (name + ".ext");
    std::ofstream(ext) << "subjectAltName=" << sans << "\n";
    must({"req", "-new", "-key", (pki_ / (key + ".key")).string(), "-subj", "/CN=todo-db", "-out",
          csr.string()});
    must({"x509", "-req", "-in", csr.string(), "-CA", (pki_ / (ca + ".crt")).string(), "-CAkey",
          (pki_ / (ca + ".key")).string(), "-set_serial", std::to_string(serial), "-days",
          std::to_string(days), "-extfile", ext.string(), "-out",
          (pki_ / (name + ".crt")).string()});
  }
  // A TLS "Secret volume" `mount` with tls.crt, tls.key (0600) and ca.crt copied from pki/.
  fs::path mount(const std::string& mount, const std::string& cert, const std::string& key,
                 const std::string& ca) {
    const auto dir = scratch() / mount;
    fs::create_directories(dir);
    put(dir / "tls.crt", read_file(pki_ / (cert + ".crt")));
    put(dir / "tls.key", read_file(pki_ / (key + ".key")));
    put(dir / "ca.crt", read_file(pki_ / (ca + ".crt")));
    return dir;
  }
  // As the kubelet swaps a Secret's file: a new file renamed over the old one (0600).
  static void put(const fs::path& file, const std::string& text) { write_file(file, text); }

  static Env tls_env(const fs::path& dir) {
    return {{"REPLAGENT_POSTGRES_TLS_CERT_FILE", (dir / "tls.crt").string()},
            {"REPLAGENT_POSTGRES_TLS_KEY_FILE", (dir / "tls.key").string()},
            {"REPLAGENT_POSTGRES_TLS_CA_FILE", (dir / "ca.crt").string()}};
  }

  // The set's CA and one certificate for every pod (the wildcard), mounted at "tls".
  fs::path set_pki() {
    make_ca("ca");
    make_key("server");
    issue("server", "server", "ca", std::string("DNS:") + kPodsWildcard, 1);
    return mount("tls", "server", "server", "ca");
  }

  void bring_up_tls_primary(Pod& primary, const Env& env) {
    InitResult r = primary.run_init(env);
    ASSERT_EQ(r.exit_code, 0) << "primary init: " << describe(r);
    primary.start_postgres();
    primary.publish_dns();
  }

  // The serial of the certificate a new TLS connection to `pod` is shown, "" when none.
  std::string served_serial(Pod& pod) {
    const auto out = scratch() / "s_client.out";
    SpawnOptions o;
    o.argv = {kOpenssl,    "s_client", "-starttls",
              "postgres",  "-connect", pod.ip() + ":" + std::to_string(pod.port()),
              "-showcerts"};
    RunResult r = run_process(o, 30s);
    if (r.exit_code() != 0) return "";
    write_file(out, r.out);
    RunResult x = openssl({"x509", "-noout", "-serial", "-in", out.string()});
    if (x.exit_code() != 0) return "";
    std::string s = x.out;
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;  // "serial=01"
  }

  static std::string postmaster_pid(Pod& pod) {
    const std::string text = read_file(pod.pgdata() / "postmaster.pid");
    return text.substr(0, text.find('\n'));
  }

  fs::path pki_;
};

TEST_F(Tls, ReplicasStreamOverTlsAndVerifyTheirPrimary) {
  const auto tls = set_pki();
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_tls_primary(primary, tls_env(tls)));
  EXPECT_EQ(primary.psql("SHOW ssl"), "on");

  Pod& replica = pod(1);
  InitResult r = replica.run_init(tls_env(tls));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  replica.start_postgres();
  ASSERT_TRUE(wait_until([&] { return streaming(primary, replica.name()); }, 30s))
      << replica.name() << " is not streaming";
  EXPECT_EQ(primary.psql("SELECT s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) "
                         "WHERE r.application_name = '" +
                         replica.name() + "'"),
            "t")
      << "the walsender's connection is not TLS";
  const std::string conninfo = replica.psql("SHOW primary_conninfo");
  EXPECT_NE(conninfo.find("sslmode=verify-full"), std::string::npos) << conninfo;
  EXPECT_NE(conninfo.find("host='" + primary.dns_name() + "'"), std::string::npos) << conninfo;

  // Replication in clear is refused (pg_hba's replication lines are hostssl).
  RunResult clear =
      primary.psql_result("IDENTIFY_SYSTEM",
                          "host=" + primary.ip() + " port=" + std::to_string(primary.port()) +
                              " user=replicator dbname=postgres replication=true sslmode=disable",
                          {{"PGPASSWORD", set_config().replication_password}});
  EXPECT_NE(clear.exit_code(), 0) << "a replication connection without TLS was admitted";
  EXPECT_NE(clear.err.find("pg_hba.conf rejects replication connection"), std::string::npos)
      << clear.err;
}

TEST_F(Tls, AReplicaTrustingAnotherCaRefusesThePrimary) {
  const auto tls = set_pki();
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_tls_primary(primary, tls_env(tls)));

  // The replica's own files are consistent (its certificate from the other CA), so its init
  // gets as far as the primary, whose certificate it cannot verify.
  make_ca("impostor-ca");
  make_key("replica");
  issue("replica", "replica", "impostor-ca", std::string("DNS:") + kPodsWildcard, 7);
  const auto other = mount("tls-other", "replica", "replica", "impostor-ca");
  Pod& replica = pod(1);
  InitResult r = replica.run_init(tls_env(other));
  EXPECT_EQ(r.exit_code, 4) << describe(r);
  const std::string message = read_file(replica.termination_log());
  EXPECT_NE(message.find("certificate verify failed"), std::string::npos) << message;
  EXPECT_NE(message.find("postgres.tls_ca_file " + (other / "ca.crt").string()), std::string::npos)
      << message;
  EXPECT_FALSE(fs::exists(replica.pgdata() / "PG_VERSION")) << "a clone was left in PGDATA";
  EXPECT_FALSE(streaming(primary, replica.name()));
  // Nothing reached the server before the certificate was checked: the agent's own
  // connections (the slot's creation) verify it too, not only pg_basebackup's.
  EXPECT_EQ(primary.psql("SELECT count(*) FROM pg_replication_slots"), "0");
}

TEST_F(Tls, InitRefusesBadFilesBeforeTouchingTheVolume) {
  make_ca("ca");
  make_key("server");
  make_key("stranger");
  issue("expired", "server", "ca", std::string("DNS:") + kPodsWildcard, 2, -1);
  issue("narrow", "server", "ca", "DNS:todo-db-1.todo-db.default.svc.cluster.local", 3);
  issue("good", "server", "ca", std::string("DNS:") + kPodsWildcard, 4);
  struct Case {
    const char* what;
    fs::path dir;
    std::string says;
  } cases[] = {
      {"expired", mount("tls-expired", "expired", "server", "ca"),
       "postgres.tls_cert_file " + (scratch() / "tls-expired" / "tls.crt").string() +
           ": expired on "},
      {"wrong SAN", mount("tls-narrow", "narrow", "server", "ca"),
       "SANs (todo-db-1.todo-db.default.svc.cluster.local) do not cover "
       "todo-db-0.todo-db.default.svc.cluster.local"},
      {"mismatched key", mount("tls-key", "good", "stranger", "ca"),
       "postgres.tls_key_file " + (scratch() / "tls-key" / "tls.key").string() +
           ": does not match the certificate"},
  };
  Pod& primary = pod(0);
  for (const auto& c : cases) {
    InitResult r = primary.run_init(tls_env(c.dir));
    EXPECT_EQ(r.exit_code, 2) << c.what << ": " << describe(r);
    const std::string message = read_file(primary.termination_log());
    EXPECT_NE(message.find(c.says), std::string::npos) << c.what << ": " << message;
    EXPECT_FALSE(fs::exists(primary.pgdata() / "PG_VERSION")) << c.what << ": initdb ran";
  }
  // Only two of the three keys: the missing one is named.
  Env partial = tls_env(scratch() / "tls-key");
  partial.erase("REPLAGENT_POSTGRES_TLS_CA_FILE");
  InitResult r = primary.run_init(partial);
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find("postgres.tls_ca_file is not set"), std::string::npos) << r.err;
}

TEST_F(Tls, RotatedFilesAreServedAfterAReloadNotARestart) {
  const auto tls = set_pki();
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_tls_primary(primary, tls_env(tls)));
  Sidecar& s = start_sidecar(primary, tls_env(tls));
  ASSERT_NO_FATAL_FAILURE(expect_eventually_200(s, "/readyz"));
  ASSERT_EQ(served_serial(primary), "serial=01");
  const std::string pid = postmaster_pid(primary);

  // A renewed certificate (same key, new serial) swapped in on disk.
  issue("renewed", "server", "ca", std::string("DNS:") + kPodsWildcard, 0x42);
  put(tls / "tls.crt", read_file(pki_ / "renewed.crt"));
  EXPECT_TRUE(wait_until([&] { return served_serial(primary) == "serial=42"; }, 20s, 300ms))
      << "the renewed certificate is not served; now: " << served_serial(primary);
  EXPECT_EQ(postmaster_pid(primary), pid) << "the server was restarted";

  // A broken rotation (expired) is checked, logged and not loaded: the server keeps serving.
  issue("expired", "server", "ca", std::string("DNS:") + kPodsWildcard, 0x43, -1);
  put(tls / "tls.crt", read_file(pki_ / "expired.crt"));
  EXPECT_TRUE(wait_until(
      [&] { return read_file(s.log_path()).find("expired on") != std::string::npos; }, 20s))
      << read_file(s.log_path());
  EXPECT_EQ(served_serial(primary), "serial=42");
  EXPECT_EQ(postmaster_pid(primary), pid);
}

// Turning TLS on for a running set, as the StatefulSet's rolling update does it: the replica
// restarts first, with TLS on, while its primary serves none yet; the primary restarts last.
// The replica must stream all along (else it is never ready and the roll stalls), and end up
// verifying its primary without another restart.
TEST_F(Tls, TurningTlsOnForARunningSetEndsWithReplicasVerifyingThePrimary) {
  const auto tls = set_pki();
  Pod& primary = pod(0);
  Pod& replica = pod(1);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  ASSERT_NO_FATAL_FAILURE(bring_up_replica(replica, primary));
  const std::string ssl_of_replica =
      "SELECT s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) WHERE "
      "r.application_name = '" +
      replica.name() + "'";

  // 1. The replica first: its init keeps the data, and streams with the interim sslmode=prefer.
  replica.stop_postgres();
  InitResult r = replica.run_init(tls_env(tls));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE((r.out + r.err).find("serves no TLS yet"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(replica.pgdata() / "replagent.tls_pending"));
  EXPECT_FALSE(fs::exists(replica.pgdata() / "replagent.tls_verified"));
  replica.start_postgres();
  ASSERT_TRUE(wait_until([&] { return streaming(primary, replica.name()); }, 30s))
      << "the replica does not stream from its primary without TLS: the roll would stall";
  EXPECT_NE(replica.psql("SHOW primary_conninfo").find("sslmode=prefer"), std::string::npos);
  Sidecar& s = start_sidecar(replica, tls_env(tls));
  EXPECT_TRUE(wait_until(
      [&] { return read_file(s.log_path()).find("does not verify yet") != std::string::npos; },
      20s))
      << read_file(s.log_path());
  EXPECT_TRUE(fs::exists(replica.pgdata() / "replagent.tls_pending"));

  // 2. The primary last, with TLS: the replica's sidecar switches it to verify-full.
  const std::string replica_pid = postmaster_pid(replica);
  primary.stop_postgres();
  ASSERT_NO_FATAL_FAILURE(bring_up_tls_primary(primary, tls_env(tls)));
  EXPECT_TRUE(wait_until(
      [&] {
        return replica.psql("SHOW primary_conninfo").find("sslmode=verify-full") !=
               std::string::npos;
      },
      60s, 500ms))
      << read_file(s.log_path());
  EXPECT_NE(replica.psql("SHOW primary_conninfo").find("sslrootcert="), std::string::npos);
  EXPECT_TRUE(wait_until([&] { return primary.psql(ssl_of_replica) == "t"; }, 30s))
      << "the replica does not stream over TLS";
  EXPECT_EQ(postmaster_pid(replica), replica_pid) << "the replica was restarted";
  EXPECT_TRUE(fs::exists(replica.pgdata() / "replagent.tls_verified"));
  EXPECT_FALSE(fs::exists(replica.pgdata() / "replagent.tls_pending"));
  s.stop();

  // 3. Never back: a primary that stops serving TLS (or an impostor in its place) no longer
  // gets this replica's connection in clear.
  primary.stop_postgres();
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  replica.stop_postgres();
  r = replica.run_init(tls_env(tls));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE((r.out + r.err).find("verified its primary over TLS before"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(replica.pgdata() / "replagent.tls_pending"));
  replica.start_postgres();
  EXPECT_NE(replica.psql("SHOW primary_conninfo").find("sslmode=verify-full"), std::string::npos);
  EXPECT_TRUE(wait_until(
      [&] {
        return read_file(replica.postgres_log()).find("server does not support SSL") !=
               std::string::npos;
      },
      30s))
      << "the replica's walreceiver did not try (and refuse) the primary without TLS";
  EXPECT_FALSE(streaming(primary, replica.name()));
}

// The sidecar exports when the files on disk expire, as openssl reads them, and follows a
// renewal (the chart's ReplagentCertificateExpiresSoon alerts on it); a clean exposition.
TEST_F(Tls, TheSidecarExportsWhenTheCertificatesOnDiskExpire) {
  const auto tls = set_pki();
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_tls_primary(primary, tls_env(tls)));
  Sidecar& s = start_sidecar(primary, tls_env(tls));
  // notAfter of pki/<name>.crt as Unix time, from openssl ("notAfter=2036-11-27 05:45:09Z").
  auto not_after = [&](const std::string& name) -> double {
    RunResult r = openssl({"x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in",
                           (pki_ / (name + ".crt")).string()});
    std::tm tm{};
    std::istringstream(r.out) >> std::get_time(&tm, "notAfter=%Y-%m-%d %H:%M:%S");
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    return static_cast<double>(::timegm(&tm));
  };
  const std::string name = "replagent_tls_certificate_expiry_timestamp_seconds";
  std::string text;
  auto exported = [&](const std::string& certificate, double want) {
    return wait_until(
        [&] {
          text = s.metrics();
          return metric_value(text, name, {{"certificate", certificate}}) == want;
        },
        20s, 100ms);
  };
  EXPECT_TRUE(exported("server", not_after("server"))) << text;
  EXPECT_TRUE(exported("ca", not_after("ca"))) << text;
  RunResult lint = promtool_check_metrics(text, scratch() / "promtool", "tls");
  EXPECT_EQ(lint.exit_code(), 0) << lint.out << lint.err;

  // A renewal that lives longer, swapped in on disk: the new date, the CA's unchanged.
  issue("renewed", "server", "ca", std::string("DNS:") + kPodsWildcard, 0x44, 60);
  ASSERT_GT(not_after("renewed"), not_after("server"));
  put(tls / "tls.crt", read_file(pki_ / "renewed.crt"));
  EXPECT_TRUE(exported("server", not_after("renewed"))) << text;
  EXPECT_EQ(metric_value(text, name, {{"certificate", "ca"}}), not_after("ca")) << text;
}

}  // namespace
}  // namespace replagent::test
