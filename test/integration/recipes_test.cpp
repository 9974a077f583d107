// The README's recipes, run as written against real servers: only the cluster's addresses are
// swapped for the test's (its DNS server for kube-dns, its loopback addresses and ports for the
// bind lines, the set's PostgreSQL port for 5432). The sidecars listen on 9187 as in the chart.
#include <algorithm>
#include <set>

#include "test/support/haproxy.hpp"
#include "test/support/sidecar.hpp"

namespace replagent::test {
namespace {
using namespace std::chrono_literals;

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

class Recipes : public SidecarTest {
 protected:
  void SetUp() override {
    SidecarTest::SetUp();
    Pod& primary = pod(0);
    ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
    start_sidecar(primary, {{"REPLAGENT_SIDECAR_LISTEN", primary.ip() + ":9187"}});
    for (int i = 1; i <= 2; ++i) {
      ASSERT_NO_FATAL_FAILURE(bring_up_replica(pod(i), primary));
      start_sidecar(pod(i), {{"REPLAGENT_SIDECAR_LISTEN", pod(i).ip() + ":9187"}});
      pod(i).publish_dns();
    }
  }

  // Which server a new session through `port` reached: "<address> <in recovery: t/f>".
  std::string route(const std::string& ip, std::uint16_t port) {
    RunResult r = pod(0).psql_result(
        "SELECT host(inet_server_addr()) || ' ' || left(pg_is_in_recovery()::text, 1)",
        "hostaddr=" + ip + " port=" + std::to_string(port) +
            " user=replagent_monitor dbname=postgres connect_timeout=5",
        {{"PGPASSWORD", set_config().monitor_password}});
    std::string out = r.exit_code() == 0 ? r.out : "error: " + r.err;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
};

TEST_F(Recipes, HaproxyRoutesWritesToThePrimaryAndReadsOverTheReplicas) {
  const std::string recipe =
      read_file(std::string(REPLAGENT_SOURCE_DIR) + "/docs/recipes/haproxy.cfg");
  const std::string ip = dns().ip();
  const std::uint16_t rw = free_tcp_port(ip), ro = free_tcp_port(ip);
  std::string cfg = replace_all(recipe, "10.96.0.10:53", dns().server());
  cfg = replace_all(cfg, "bind :5000", "bind " + ip + ":" + std::to_string(rw));
  cfg = replace_all(cfg, "bind :5001", "bind " + ip + ":" + std::to_string(ro));
  cfg = replace_all(cfg, ".svc.cluster.local:5432",
                    ".svc.cluster.local:" + std::to_string(pod(0).port()));
  ASSERT_NE(cfg, recipe);
  Haproxy haproxy(scratch() / "haproxy", cfg, ip, {{"primary", rw}, {"replicas", ro}});

  const std::string primary = pod(0).ip() + " f";
  std::vector<std::string> seen;
  ASSERT_TRUE(wait_until(
      [&] {
        seen.push_back(route(ip, rw));
        return seen.size() >= 4 &&
               std::all_of(seen.end() - 4, seen.end(), [&](auto& s) { return s == primary; });
      },
      20s, 100ms))
      << "last route: " << (seen.empty() ? "" : seen.back()) << "\n"
      << haproxy.log_tail();

  const std::set<std::string> replicas = {pod(1).ip() + " t", pod(2).ip() + " t"};
  seen.clear();
  ASSERT_TRUE(wait_until(
      [&] {
        seen.push_back(route(ip, ro));
        if (seen.size() < 4) return false;
        return std::set<std::string>(seen.end() - 4, seen.end()) == replicas;
      },
      20s, 100ms))
      << "last route: " << seen.back() << "\n"
      << haproxy.log_tail();

  // A replica whose WAL receiver stops leaves the read rotation; the primary stays the writer.
  pod(1).psql("ALTER SYSTEM SET primary_conninfo = ''");
  pod(1).psql("SELECT pg_reload_conf()");
  seen.clear();
  EXPECT_TRUE(wait_until(
      [&] {
        seen.push_back(route(ip, ro));
        return seen.size() >= 4 && std::all_of(seen.end() - 4, seen.end(),
                                               [&](auto& s) { return s == pod(2).ip() + " t"; });
      },
      20s, 100ms))
      << "last route: " << seen.back() << "\n"
      << haproxy.log_tail();
  EXPECT_EQ(route(ip, rw), primary);
}

}  // namespace
}  // namespace replagent::test
