// An IPv6-only primary on real servers: the cluster DNS has only an AAAA record for pod 0 (no
// A), its PostgreSQL listens on ::1 only, and a replica's `replagent init` still resolves it,
// waits for it, clones it with pg_basebackup through its replication slot and streams; the
// replica's sidecar measures its lag from that primary, and `replagent probe` answers on both.
#include <signal.h>

#include "test/support/sidecar.hpp"

namespace replagent::test {
namespace {
using namespace std::chrono_literals;

class Ipv6OnlyPrimary : public SidecarTest {
 protected:
  // Pod 0 on ::1 with an AAAA record only, initialised and accepting connections.
  Pod& bring_up_ipv6_primary() {
    Pod& primary = pod_on(0, "::1");
    bring_up_primary(primary);
    return primary;
  }
};

TEST_F(Ipv6OnlyPrimary, ReplicaResolvesAaaaClonesAndStreams) {
  Pod& primary = bring_up_ipv6_primary();
  ASSERT_FALSE(HasFatalFailure());
  // What the replica's resolver will be told: the name exists, without an A record.
  const DnsReply a = dns().query(primary.dns_name());
  ASSERT_EQ(a.rcode, 0) << "A query for " << primary.dns_name();
  ASSERT_TRUE(a.addresses.empty()) << "the primary has an A record: " << a.addresses.front();
  ASSERT_EQ(dns().query_aaaa(primary.dns_name()).addresses, std::vector<std::string>{"::1"});

  Pod& replica = pod(1);
  ASSERT_NO_FATAL_FAILURE(bring_up_replica(replica, primary));

  // The replica streams from the primary's IPv6 address, through its own slot, as it was told
  // by the AAAA record (primary_conninfo pins hostaddr, see Pod::init_env).
  EXPECT_EQ(replica.psql("SELECT status FROM pg_stat_wal_receiver"), "streaming");
  std::string conninfo = replica.psql("SHOW primary_conninfo");
  std::erase(conninfo, '\'');
  EXPECT_NE(conninfo.find("hostaddr=::1 "), std::string::npos) << conninfo;
  EXPECT_EQ(primary.psql("SELECT slot_name || ':' || active FROM pg_replication_slots"),
            "todo_db_1:true");
  EXPECT_EQ(primary.psql("SELECT client_addr FROM pg_stat_replication WHERE application_name = "
                         "'todo-db-1'"),
            "::1");

  primary.psql("CREATE TABLE todo (item text); INSERT INTO todo VALUES ('over IPv6')");
  EXPECT_TRUE(wait_until(
      [&] { return replica.psql_result("SELECT item FROM todo").out == "over IPv6\n"; }, 20s))
      << "the replica did not replay the primary's write";

  // The replica's sidecar: ready as a replica, its lag measured from what the IPv6 primary
  // last reported (its WAL receiver), caught up once the write is replayed.
  Sidecar& s = start_sidecar(replica);
  ASSERT_NO_FATAL_FAILURE(expect_eventually_200(s, "/replica"));
  std::string metrics;
  EXPECT_TRUE(wait_until(
      [&] {
        metrics = s.metrics();
        return metric_value(metrics, "replagent_wal_receiver_streaming") == 1.0 &&
               metric_value(metrics, "replagent_replica_lag_bytes", {{"stage", "receive"}}) ==
                   0.0 &&
               metric_value(metrics, "replagent_replica_lag_bytes", {{"stage", "replay"}}) == 0.0;
      },
      20s, 200ms))
      << metrics;
  // The kubelet's probe in the replica's postgres container, through that sidecar.
  const RunResult replica_probe = s.probe("replica");
  EXPECT_EQ(replica_probe.exit_code(), 0) << replica_probe.out << replica_probe.err;

  // The primary's probe with no sidecar answering (nothing listens on port 1) checks the
  // server itself, over IPv6: postgres.host is ::1 in this pod.
  SpawnOptions probe;
  probe.argv = {REPLAGENT_BINARY, "probe", "primary"};
  probe.env = primary.init_env();
  probe.env["REPLAGENT_SIDECAR_LISTEN"] = "127.0.0.1:1";
  const RunResult primary_probe = run_process(probe, 10s);
  EXPECT_EQ(primary_probe.exit_code(), 0) << primary_probe.out << primary_probe.err;
  EXPECT_NE(primary_probe.out.find("writable primary (direct"), std::string::npos)
      << primary_probe.out;
}

// A restarted replica keeps its data: init looks at the primary once more over IPv6 (system
// identifier, its slot) and only refreshes primary_conninfo.
TEST_F(Ipv6OnlyPrimary, ReplicaRestartKeepsDataAndChecksTheSlot) {
  Pod& primary = bring_up_ipv6_primary();
  ASSERT_FALSE(HasFatalFailure());
  Pod& replica = pod(1);
  ASSERT_NO_FATAL_FAILURE(bring_up_replica(replica, primary));
  replica.stop_postgres();
  const auto inode = inode_of(replica.pgdata());

  InitResult r = replica.run_init();
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(inode_of(replica.pgdata()), inode) << "the data directory was replaced (cloned)";
  // Kept after checking the primary, not "unverified" because it could not be reached.
  EXPECT_NE(r.err.find("matches the primary"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("replication slot todo_db_1 on the primary holds WAL from"),
            std::string::npos)
      << describe(r);

  replica.start_postgres();
  EXPECT_TRUE(wait_until([&] { return streaming(primary, replica.name()); }, 30s))
      << replica.name() << " does not stream again from " << primary.name();
}

// The primary's sidecar drops the slot of a replica gone from the headless Service, and must
// not take an AAAA-only name (an IPv6 pod) for a gone one: that would drop the slot of every
// replica of an IPv6-only set while it restarts, and each would re-clone.
TEST_F(Ipv6OnlyPrimary, SlotOfAnAaaaOnlyReplicaIsKept) {
  Pod& primary = bring_up_ipv6_primary();
  ASSERT_FALSE(HasFatalFailure());
  Pod& replica = pod(1);
  ASSERT_NO_FATAL_FAILURE(bring_up_replica(replica, primary));
  // Its record as an IPv6 pod's: AAAA only (no server needs to answer there for this).
  dns().set_record(replica.dns_name(), "::1");
  replica.stop_postgres();  // the slot is inactive: the janitor judges it
  ASSERT_TRUE(wait_until(
      [&] { return primary.psql("SELECT active FROM pg_replication_slots") == "f"; }, 20s));

  // The primary's sidecar (its poller reaches the server over ::1), dropping after 1 s.
  SpawnOptions opts;
  opts.argv = {REPLAGENT_BINARY, "--log-level", "debug", "sidecar"};
  opts.env = primary.init_env();
  const std::uint16_t port = free_tcp_port("127.0.0.1");
  opts.env["REPLAGENT_SIDECAR_LISTEN"] = "127.0.0.1:" + std::to_string(port);
  opts.env["REPLAGENT_SIDECAR_POLL_INTERVAL"] = "500ms";
  opts.env["REPLAGENT_SIDECAR_SLOT_DROP_AFTER"] = "1s";
  const auto log = scratch().path() / "logs" / "todo-db-0.sidecar.log";
  opts.stdout_path = log;
  opts.stderr_path = log;
  ChildProcess sidecar(opts);
  std::string metrics;
  auto scrape = [&](const std::string& name) -> std::optional<double> {
    const HttpReply r = http_get("127.0.0.1", port, "/metrics");
    if (r.status != 200) return std::nullopt;
    metrics = r.body;
    return metric_value(metrics, name);
  };
  std::optional<double> polls;
  ASSERT_TRUE(wait_until(
      [&] { return (polls = scrape("replagent_poll_duration_seconds_count")).has_value(); }, 20s))
      << tail_file(log, 20);
  // Well past slot_drop_after: ten more polls (5 s at 500 ms), each one reviewing the slots.
  const double start = *polls;
  ASSERT_TRUE(wait_until(
      [&] {
        polls = scrape("replagent_poll_duration_seconds_count");
        return polls && *polls >= start + 10;
      },
      30s))
      << tail_file(log, 20);
  EXPECT_EQ(primary.psql("SELECT slot_name FROM pg_replication_slots"), "todo_db_1")
      << tail_file(log, 20);
  EXPECT_EQ(scrape("replagent_replication_slots_dropped_total"), 0.0) << metrics;

  // The control: once the name is NXDOMAIN, the same sidecar drops the slot.
  dns().remove_record(replica.dns_name());
  EXPECT_TRUE(wait_until(
      [&] { return primary.psql("SELECT count(*) FROM pg_replication_slots") == "0"; }, 30s))
      << tail_file(log, 20);
  EXPECT_EQ(sidecar.stop(SIGTERM, 10s).shell_code(), 0) << tail_file(log, 20);
}

}  // namespace
}  // namespace replagent::test
