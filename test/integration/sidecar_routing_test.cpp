// Read/write routing by the sidecars' Patroni-style endpoints: a real HAProxy with
// `option httpchk GET /primary` sends psql connections to the primary, one with
// `GET /replica?lag=1MB` to the replicas, and stops sending them to a replica whose WAL
// receiver has stopped.
#include <algorithm>
#include <iostream>
#include <set>
#include <thread>

#include "test/support/haproxy.hpp"
#include "test/support/sidecar.hpp"

namespace replagent::test {
namespace {
using namespace std::chrono_literals;

class SidecarRouting : public SidecarTest {
 protected:
  // "ip t|f" of the server a new connection through `listener` reaches (its address and
  // whether it is in recovery); "" on failure.
  std::string route(Haproxy& h, const std::string& listener) {
    RunResult r = pod(0).psql_result(
        "SELECT host(inet_server_addr()) || ' ' || left(pg_is_in_recovery()::text, 1)",
        h.conninfo(listener), {{"PGPASSWORD", set_config().monitor_password}});
    if (r.exit_code() != 0) return "error: " + r.err;
    std::string out = r.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
};

TEST_F(SidecarRouting, HaproxyRoutesByPrimaryAndReplicaChecks) {
  ASSERT_NO_FATAL_FAILURE(bring_up_with_sidecars(2));
  constexpr auto kInter = 1s;
  std::vector<Haproxy::Server> servers;
  for (int i = 0; i <= 2; ++i) {
    servers.push_back({pod(i).name(), pod(i).ip(), pod(i).port(), sidecar(i).port()});
  }
  Haproxy haproxy(scratch() / "haproxy", dns().ip(),
                  {{"primary", "/primary", servers}, {"replicas", "/replica?lag=1MB", servers}},
                  kInter);
  const std::string primary = pod(0).ip() + " f";
  const std::string r1 = pod(1).ip() + " t";
  const std::string r2 = pod(2).ip() + " t";

  // HAProxy starts with every server up; its first checks take the wrong ones out.
  std::vector<std::string> seen;
  ASSERT_TRUE(wait_until(
      [&] {
        seen.push_back(route(haproxy, "primary"));
        return seen.size() >= 4 &&
               std::all_of(seen.end() - 4, seen.end(), [&](auto& s) { return s == primary; });
      },
      10s, 50ms))
      << "last routes: " << (seen.empty() ? "" : seen.back()) << "\n"
      << haproxy.log_tail();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(route(haproxy, "primary"), primary);

  // Round robin over both replicas, never the primary.
  seen.clear();
  ASSERT_TRUE(wait_until(
      [&] {
        seen.push_back(route(haproxy, "replicas"));
        if (seen.size() < 4) return false;
        std::set<std::string> last(seen.end() - 4, seen.end());
        return last == std::set<std::string>{r1, r2};
      },
      10s, 50ms))
      << "last route: " << seen.back() << "\n"
      << haproxy.log_tail();

  // todo-db-1's WAL receiver stops: its sidecar's /replica turns 503, HAProxy takes it out.
  pod(1).psql("ALTER SYSTEM SET primary_conninfo = ''");
  pod(1).psql("SELECT pg_reload_conf()");
  const auto changed = std::chrono::steady_clock::now();
  // Two check intervals, plus one sidecar poll for the sidecar to see the change.
  const auto bound = 2 * kInter + kSidecarPollInterval;
  seen.clear();
  std::chrono::steady_clock::time_point streak_start{};
  const bool out = wait_until(
      [&] {
        const auto at = std::chrono::steady_clock::now();
        const std::string s = route(haproxy, "replicas");
        if (s != r2) {
          streak_start = {};
        } else if (streak_start == std::chrono::steady_clock::time_point{}) {
          streak_start = at;
        }
        seen.push_back(s);
        // Three in a row on todo-db-2: round robin over two servers would have alternated.
        return seen.size() >= 3 &&
               std::all_of(seen.end() - 3, seen.end(), [&](auto& x) { return x == r2; });
      },
      bound, 0ms);
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(streak_start - changed).count();
  ASSERT_TRUE(out) << "todo-db-1 still routed " << bound.count() << " ms after its WAL receiver "
                   << "stopped; /replica on it: " << sidecar(1).get("/replica?lag=1MB").status
                   << " " << sidecar(1).get("/replica?lag=1MB").body << "\n"
                   << haproxy.log_tail();
  RecordProperty("replica_out_of_rotation_ms", std::to_string(took));
  std::cout << "todo-db-1 out of the replicas rotation " << took
            << " ms after its WAL receiver was stopped\n";
  EXPECT_EQ(sidecar(1).get("/replica?lag=1MB").status, 503);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(route(haproxy, "replicas"), r2);
  // The primary's route does not change.
  EXPECT_EQ(route(haproxy, "primary"), primary);
}

}  // namespace
}  // namespace replagent::test
