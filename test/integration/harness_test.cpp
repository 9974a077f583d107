// The harness proves itself before the product is involved: dnsmasq answers as the cluster
// DNS, a hand-made PostgreSQL "pod" serves on its own loopback address and socket directory,
// and everything it started is gone afterwards.
#include <signal.h>

#include "test/support/cluster.hpp"

namespace replagent::test {
namespace {

class Harness : public ClusterTest {};

TEST_F(Harness, DnsServerAnswersRecordsAndForgetsRemovedOnes) {
  const std::string name = "todo-db-0.todo-db.default.svc.cluster.local";
  EXPECT_EQ(dns().query(name).rcode, 3) << "absent names must be NXDOMAIN";
  dns().set_record(name, "127.1.2.3");
  DnsReply r = dns().query(name);
  EXPECT_EQ(r.rcode, 0);
  EXPECT_EQ(r.addresses, std::vector<std::string>{"127.1.2.3"});
  dns().set_record(name, "127.1.2.4");  // a pod restarted with a new address
  EXPECT_EQ(dns().query(name).addresses, std::vector<std::string>{"127.1.2.4"});
  dns().remove_record(name);
  EXPECT_EQ(dns().query(name).rcode, 3);
}

TEST_F(Harness, PodServesPostgresOnItsOwnAddress) {
  Pod& p = pod(0);
  p.initdb_by_hand();
  p.start_postgres();
  EXPECT_EQ(p.psql("SELECT 1"), "1");
  p.publish_dns();
  DnsReply r = dns().query(p.dns_name());
  ASSERT_EQ(r.addresses.size(), 1u);
  EXPECT_EQ(r.addresses[0], p.ip());
  // Over TCP on the pod's address, as a peer pod would connect.
  RunResult tcp = p.psql_result("SELECT inet_server_addr()",
                                "hostaddr=" + r.addresses[0] + " port=" + std::to_string(p.port()) +
                                    " user=postgres dbname=postgres");
  EXPECT_EQ(tcp.exit_code(), 0) << tcp.err;
  EXPECT_EQ(tcp.out, p.ip() + "\n");

  // Killed and restarted on the same data directory (crash recovery), then stopped cleanly.
  p.kill_postgres();
  EXPECT_FALSE(p.postgres_running());
  p.start_postgres();
  EXPECT_EQ(p.psql("SELECT 2"), "2");
  p.stop_postgres();
  EXPECT_FALSE(p.postgres_running());
}

TEST_F(Harness, ProcessGroupsAndOrphansAreVisible) {
  // A shell that leaves a background child behind and exits: the child keeps the group and is
  // adopted by this (subreaper) process. The init tests use exactly this to catch a
  // pg_basebackup that outlived its agent.
  SpawnOptions opts;
  opts.argv = {"/bin/sh", "-c", "sleep 30 & exit 0"};
  ChildProcess sh(opts);
  auto s = sh.wait_for(std::chrono::seconds(10));
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->exited);
  EXPECT_TRUE(sh.group_alive());
  auto orphans = adopted_orphans();
  ASSERT_EQ(orphans.size(), 1u) << describe(orphans);
  EXPECT_EQ(orphans[0].pgid, sh.pid());
  sh.signal_group(SIGKILL);
  EXPECT_TRUE(wait_until([&] { return !sh.group_alive(); }, std::chrono::seconds(5)));
  EXPECT_TRUE(adopted_orphans().empty());
}

}  // namespace
}  // namespace replagent::test
