// agent/topology.hpp: who this pod and the primary are, and every connection the agent opens,
// table-driven (config in, fields out).
#include "agent/topology.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "agent/errors.hpp"
#include "test/unit/fakes.hpp"

namespace replagent::agent {
namespace {

using namespace std::chrono_literals;

// ---- topology_of

struct TopologyCase {
  const char* name;
  std::string pod;
  std::string service;  // pod.service; empty: the set's name
  std::string ns;
  std::string domain;
  int primary_ordinal;
  PodIdentity self;
  PodIdentity primary;
  std::string primary_host;
  std::string service_host;
  std::string slot;
  bool is_primary;
};

const TopologyCase kTopologyCases[] = {
    {"primary_pod0",
     "todo-db-0",
     "",
     "default",
     "cluster.local",
     0,
     {"todo-db", 0},
     {"todo-db", 0},
     "todo-db-0.todo-db.default.svc.cluster.local",
     "todo-db.default.svc.cluster.local",
     "todo_db_0",
     true},
    {"replica_pod2",
     "todo-db-2",
     "",
     "default",
     "cluster.local",
     0,
     {"todo-db", 2},
     {"todo-db", 0},
     "todo-db-0.todo-db.default.svc.cluster.local",
     "todo-db.default.svc.cluster.local",
     "todo_db_2",
     false},
    {"own_service_namespace_domain",
     "db-1",
     "db-hl",
     "prod",
     "corp.example",
     0,
     {"db", 1},
     {"db", 0},
     "db-0.db-hl.prod.svc.corp.example",
     "db-hl.prod.svc.corp.example",
     "db_1",
     false},
    {"promoted_ordinal_is_primary",
     "todo-db-1",
     "",
     "default",
     "cluster.local",
     1,
     {"todo-db", 1},
     {"todo-db", 1},
     "todo-db-1.todo-db.default.svc.cluster.local",
     "todo-db.default.svc.cluster.local",
     "todo_db_1",
     true},
    {"pod0_after_promotion_is_replica",
     "todo-db-0",
     "",
     "default",
     "cluster.local",
     1,
     {"todo-db", 0},
     {"todo-db", 1},
     "todo-db-1.todo-db.default.svc.cluster.local",
     "todo-db.default.svc.cluster.local",
     "todo_db_0",
     false},
};

TEST(Topology, OfConfig) {
  for (const auto& tc : kTopologyCases) {
    SCOPED_TRACE(tc.name);
    Config c;
    c.pod.name = tc.pod;
    c.pod.service = tc.service;
    c.pod.namespace_ = tc.ns;
    c.pod.cluster_domain = tc.domain;
    c.pod.primary_ordinal = tc.primary_ordinal;
    const Topology t = topology_of(c);
    EXPECT_EQ(t.self, tc.self);
    EXPECT_EQ(t.primary, tc.primary);
    EXPECT_EQ(t.primary_host, tc.primary_host);
    EXPECT_EQ(t.service_host, tc.service_host);
    EXPECT_EQ(t.slot, tc.slot);
    EXPECT_EQ(t.is_primary(), tc.is_primary);
  }
}

TEST(Topology, PodNameWithoutOrdinalIsAUsageError) {
  for (const char* pod : {"todo-db", "", "todo-db-01", "host-7x"}) {
    SCOPED_TRACE(pod);
    Config c;
    c.pod.name = pod;
    try {
      topology_of(c);
      ADD_FAILURE() << "topology_of did not throw";
    } catch (const AgentError& e) {
      EXPECT_EQ(e.code(), ExitCode::kUsage);
      EXPECT_NE(std::string(e.what()).find("has no ordinal"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("POD_NAME"), std::string::npos) << e.what();
    }
  }
}

// ---- The connection builders

// Every field of ConnParams a builder may set.
struct Fields {
  std::string host;
  std::string hostaddr;
  std::uint16_t port;
  std::string user;
  std::string password;
  std::string dbname;
  std::string application_name;
  std::chrono::seconds connect_timeout;
  std::chrono::milliseconds io_timeout;
  bool replication;
  std::string options;
  std::string sslrootcert;
};

// Distinct values for every setting the builders read, so a field taken from the wrong one
// shows.
Config base_config() {
  Config c;
  c.pod.name = "todo-db-1";
  c.postgres.host = "127.0.0.1";
  c.postgres.port = 25432;
  c.postgres.superuser = "su";
  c.postgres.superuser_password = Secret("su-secret");
  c.postgres.replication_user = "repl";
  c.postgres.replication_password = Secret("repl-secret");
  c.postgres.monitor_user = "mon";
  c.postgres.monitor_password = Secret("mon-secret");
  c.postgres.backup_user = "bak";
  c.postgres.backup_password = Secret("bak-secret");
  c.postgres.tls_ca_file = "/tls/ca.crt";
  return c;
}

struct BuilderCase {
  const char* name;
  std::function<void(Config&)> adjust;  // nullptr: base_config() as it is
  std::function<ConnParams(const Config&)> build;
  Fields want;
};

const std::string kHost = "todo-db-0.todo-db.default.svc.cluster.local";

const BuilderCase kBuilderCases[] = {
    {"pod_connection",
     nullptr,
     [](const Config& c) { return pod_connection(c, kHost, "10.0.0.5"); },
     {kHost, "10.0.0.5", 25432, "", "", "postgres", "replagent", 5s, 0ms, false, "",
      "/tls/ca.crt"}},
    {"pod_connection_without_tls",
     [](Config& c) { c.postgres.tls_ca_file.clear(); },
     [](const Config& c) { return pod_connection(c, kHost, "10.0.0.5"); },
     {kHost, "10.0.0.5", 25432, "", "", "postgres", "replagent", 5s, 0ms, false, "", ""}},
    {"replication_to_for_init",
     nullptr,
     [](const Config& c) { return replication_to(c, kHost, "10.0.0.5", c.pod.name); },
     {kHost, "10.0.0.5", 25432, "repl", "repl-secret", "postgres", "todo-db-1", 5s, 0ms, true, "",
      "/tls/ca.crt"}},
    {"replication_to_for_tls_upgrade",
     nullptr,
     [](const Config& c) { return replication_to(c, kHost, "10.0.0.5", "replagent-sidecar-tls"); },
     {kHost, "10.0.0.5", 25432, "repl", "repl-secret", "postgres", "replagent-sidecar-tls", 5s, 0ms,
      true, "", "/tls/ca.crt"}},
    {"replication_ping_to_has_no_password",
     nullptr,
     [](const Config& c) { return replication_ping_to(c, kHost, "10.0.0.5"); },
     {kHost, "10.0.0.5", 25432, "repl", "", "postgres", "replagent", 5s, 0ms, false, "",
      "/tls/ca.crt"}},
    {"backup_to_source_check",
     nullptr,
     [](const Config& c) { return backup_to(c, kHost, "10.0.0.6", "postgres"); },
     {kHost, "10.0.0.6", 25432, "bak", "bak-secret", "postgres", "replagent-backup", 5s, 0ms, false,
      "", "/tls/ca.crt"}},
    {"backup_to_dumped_database",
     nullptr,
     [](const Config& c) { return backup_to(c, kHost, "10.0.0.6", "todo"); },
     {kHost, "10.0.0.6", 25432, "bak", "bak-secret", "todo", "replagent-backup", 5s, 0ms, false, "",
      "/tls/ca.crt"}},
    {"socket_superuser_peer_auth",
     nullptr,
     [](const Config& c) { return socket_superuser(c, "/run/init", "replagent-init"); },
     {"/run/init", "", 25432, "su", "", "postgres", "replagent-init", 2s, 0ms, false, "", ""}},
    {"promote_superuser",
     nullptr,
     [](const Config& c) { return promote_superuser(c, "/run/pg"); },
     {"/run/pg", "", 25432, "su", "", "postgres", "replagent promote", 5s, 90'000ms, false, "",
      ""}},
    {"sidecar_superuser",
     nullptr,
     [](const Config& c) { return sidecar_superuser(c, "/run/pg", "replagent-sidecar-tls"); },
     {"/run/pg", "", 25432, "su", "", "postgres", "replagent-sidecar-tls", 2s, 10'000ms, false, "",
      ""}},
    {"restore_check_to",
     nullptr,
     [](const Config& c) { return restore_check_to(c, "/tmp/rc", "replagent_restore", "rc"); },
     {"/tmp/rc", "", 25432, "replagent_restore", "", "rc", "replagent-restore-check", 2s, 0ms,
      false, "", ""}},
    {"local_monitor_ipv4",
     nullptr,
     [](const Config& c) { return local_monitor(c, 1000ms); },
     {"", "127.0.0.1", 25432, "mon", "mon-secret", "postgres", "replagent-sidecar", 2s, 0ms, false,
      "-c statement_timeout=1000", ""}},
    {"local_monitor_ipv6_bare_in_hostaddr",
     [](Config& c) { c.postgres.host = "::1"; },
     [](const Config& c) { return local_monitor(c, 500ms); },
     {"", "::1", 25432, "mon", "mon-secret", "postgres", "replagent-sidecar", 2s, 0ms, false,
      "-c statement_timeout=500", ""}},
    {"local_monitor_localhost_is_loopback",
     [](Config& c) { c.postgres.host = "localhost"; },
     [](const Config& c) { return local_monitor(c, 1000ms); },
     {"localhost", "127.0.0.1", 25432, "mon", "mon-secret", "postgres", "replagent-sidecar", 2s,
      0ms, false, "-c statement_timeout=1000", ""}},
    {"local_monitor_socket_directory",
     [](Config& c) { c.postgres.host = "/var/run/postgresql"; },
     [](const Config& c) { return local_monitor(c, 1000ms); },
     {"/var/run/postgresql", "", 25432, "mon", "mon-secret", "postgres", "replagent-sidecar", 2s,
      0ms, false, "-c statement_timeout=1000", ""}},
    {"local_replication_keeps_the_local_server_and_bounds",
     nullptr,
     [](const Config& c) {
       ConnParams local = local_monitor(c, 1000ms);
       local.io_timeout = 1250ms;
       return local_replication(c, local);
     },
     {"", "127.0.0.1", 25432, "repl", "repl-secret", "postgres", "replagent-sidecar-slots", 2s,
      1250ms, true, "-c statement_timeout=1000", ""}},
};

TEST(Topology, ConnectionBuilders) {
  for (const auto& tc : kBuilderCases) {
    SCOPED_TRACE(tc.name);
    Config c = base_config();
    if (tc.adjust) tc.adjust(c);
    const ConnParams p = tc.build(c);
    EXPECT_EQ(p.host, tc.want.host);
    EXPECT_EQ(p.hostaddr, tc.want.hostaddr);
    EXPECT_EQ(p.port, tc.want.port);
    EXPECT_EQ(p.user, tc.want.user);
    EXPECT_EQ(p.password.reveal(), tc.want.password);
    EXPECT_EQ(p.dbname, tc.want.dbname);
    EXPECT_EQ(p.application_name, tc.want.application_name);
    EXPECT_EQ(p.connect_timeout, tc.want.connect_timeout);
    EXPECT_EQ(p.io_timeout, tc.want.io_timeout);
    EXPECT_EQ(p.replication, tc.want.replication);
    EXPECT_EQ(p.options, tc.want.options);
    EXPECT_EQ(p.sslrootcert, tc.want.sslrootcert);
  }
}

// connect_local_superuser: no attempt without a socket directory; else sidecar_superuser's
// session, or why not naming where it connected.
TEST(Topology, ConnectLocalSuperuser) {
  const Config c = base_config();
  fakes::FakePgClient pg;
  std::string why;
  EXPECT_EQ(connect_local_superuser(pg, c, "", "replagent-sidecar-passwords", &why), nullptr);
  EXPECT_EQ(why, "the local server's socket directory is unknown (is it running?)");
  EXPECT_TRUE(pg.connect_calls.empty());

  why.clear();
  EXPECT_NE(connect_local_superuser(pg, c, "/run/pg", "replagent-sidecar-passwords", &why),
            nullptr);
  EXPECT_EQ(why, "");
  ASSERT_EQ(pg.connect_calls.size(), 1u);
  const ConnParams want = sidecar_superuser(c, "/run/pg", "replagent-sidecar-passwords");
  EXPECT_EQ(pg.connect_calls[0].describe(), want.describe());
  EXPECT_EQ(pg.connect_calls[0].io_timeout, want.io_timeout);
  EXPECT_EQ(pg.connect_calls[0].application_name, want.application_name);

  pg.server.connect_error = PgError{"28000", "peer authentication failed for user \"su\""};
  EXPECT_EQ(connect_local_superuser(pg, c, "/run/pg", "replagent-sidecar-passwords", &why),
            nullptr);
  EXPECT_EQ(why, fmt::format("cannot connect to {}: peer authentication failed for user \"su\"",
                             want.describe()));
}

}  // namespace
}  // namespace replagent::agent
