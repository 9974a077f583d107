// Replication lag as the sidecars report it, against real servers: an idle primary means no
// lag at all (not a delay that grows by one second per second, as postgres_exporter's
// pg_replication_lag does), heavy writes show up on both sides, and a replica's sidecar
// measures all this without ever connecting to the primary.
#include <iostream>
#include <sstream>
#include <thread>

#include "test/support/sidecar.hpp"

namespace replagent::test {
namespace {
using namespace std::chrono_literals;

class SidecarReplicationLag : public SidecarTest {
 protected:
  std::optional<double> primary_lag(const std::string& exposition, const std::string& stage) {
    return metric_value(exposition, "replagent_replication_lag_bytes",
                        {{"replica", "todo-db-1"}, {"stage", stage}});
  }
  std::optional<double> replica_lag(const std::string& exposition, const std::string& stage) {
    return metric_value(exposition, "replagent_replica_lag_bytes", {{"stage", stage}});
  }
};

std::string show(std::optional<double> v) { return v ? std::to_string(*v) : "absent"; }

TEST_F(SidecarReplicationLag, IdlePrimaryReadsZeroDelayAndZeroBytes) {
  ASSERT_NO_FATAL_FAILURE(bring_up_with_sidecars(1));
  Pod& primary = pod(0);
  Pod& replica = pod(1);
  // One replayed transaction, so the replica has a last-replay timestamp to age.
  primary.psql("CREATE TABLE todo (item text); INSERT INTO todo VALUES ('idle')");
  ASSERT_TRUE(wait_until(
      [&] { return replica.psql_result("SELECT item FROM todo").out == "idle\n"; }, 20s));

  std::this_thread::sleep_for(10s);  // the primary stays idle

  // What a "now() - last replay" delay would read: about the idle time.
  const double naive =
      std::stod(replica.psql("SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp())"));
  EXPECT_GE(naive, 9.0);

  // The sidecars read no lag. Polled briefly: the primary's background writer may log a
  // standby snapshot record at any moment, which the replica receives within milliseconds.
  std::string p, r;
  const bool zero = wait_until(
      [&] {
        p = sidecar(0).metrics();
        r = sidecar(1).metrics();
        return metric_value(r, "replagent_replica_replay_delay_seconds") == 0.0 &&
               metric_value(r, "pg_replication_lag_seconds") == 0.0 &&
               replica_lag(r, "receive") == 0.0 && replica_lag(r, "replay") == 0.0 &&
               primary_lag(p, "sent") == 0.0 && primary_lag(p, "replay") == 0.0 &&
               metric_value(p, "replagent_replication_lag_seconds",
                            {{"replica", "todo-db-1"}, {"stage", "replay"}}) == 0.0;
      },
      5s, 200ms);
  EXPECT_TRUE(zero) << "naive delay " << naive << " s; replica delay "
                    << show(metric_value(r, "replagent_replica_replay_delay_seconds"))
                    << ", replica lag receive/replay " << show(replica_lag(r, "receive")) << "/"
                    << show(replica_lag(r, "replay")) << ", primary's lag sent/replay "
                    << show(primary_lag(p, "sent")) << "/" << show(primary_lag(p, "replay"))
                    << "\n/status replica: " << sidecar(1).get("/status").body
                    << "\n/status primary: " << sidecar(0).get("/status").body;
}

// A new replica of an idle primary: the clone ends with a WAL switch (pg_backup_stop), so the
// replica's receiver starts where the primary's WAL ends and is sent nothing. Its lag is known
// at once all the same (snapshot.hpp, kNothingToSend); before, it stayed unknown, and the
// replica not Ready, until the primary next wrote WAL (a standby snapshot 15 s later) or the
// receiver pinged after wal_receiver_timeout / 2.
TEST_F(SidecarReplicationLag, ANewReplicaOfAnIdlePrimaryKnowsItsLagWithoutNewWal) {
  ASSERT_NO_FATAL_FAILURE(bring_up_with_sidecars(1));
  Pod& primary = pod(0);
  Pod& replica = pod(2);
  ASSERT_NO_FATAL_FAILURE(bring_up_replica(replica, primary));
  const std::string before = primary.psql("SELECT pg_current_wal_lsn()");
  Sidecar& s = start_sidecar(replica);
  std::string r;
  const bool known = wait_until(
      [&] {
        r = s.metrics();
        return replica_lag(r, "replay").has_value();
      },
      8s, 200ms);
  const std::string after = primary.psql("SELECT pg_current_wal_lsn()");
  if (!known && before != after)
    GTEST_SKIP() << "the primary wrote WAL meanwhile (" << before << " -> " << after
                 << "): the case needs an idle primary";
  EXPECT_TRUE(known) << "lag unknown on a new replica of an idle primary; /status: "
                     << s.get("/status").body;
  EXPECT_EQ(s.get("/readyz").status, 200);
}

TEST_F(SidecarReplicationLag, HeavyWritesShowLagOnPrimaryAndReplica) {
  ASSERT_NO_FATAL_FAILURE(bring_up_with_sidecars(1));
  Pod& primary = pod(0);
  const std::vector<std::string> target = {
      "-h", primary.socket_dir().string(), "-p", std::to_string(primary.port()), "-U", "postgres"};
  std::vector<std::string> init_args = {"-i", "-q", "-s", "2"};
  init_args.insert(init_args.end(), target.begin(), target.end());
  init_args.push_back("postgres");
  RunResult init = primary.pg_tool("pgbench", init_args);
  ASSERT_EQ(init.exit_code(), 0) << init.err;

  SpawnOptions opts;
  opts.argv = {std::string(kPgBinDir) + "/pgbench", "-c", "4", "-j", "2", "-T", "8"};
  opts.argv.insert(opts.argv.end(), target.begin(), target.end());
  opts.argv.push_back("postgres");
  opts.env = {{"PGPASSWORD", set_config().superuser_password}, {"LC_ALL", "C"}};
  opts.stdout_path = scratch() / "logs" / "pgbench.out";
  opts.stderr_path = scratch() / "logs" / "pgbench.err";
  ChildProcess pgbench(opts);

  // Scrape both sidecars during the load; keep the largest value seen.
  double primary_max = 0, replica_max = 0;
  int scrapes = 0;
  while (pgbench.running()) {
    const std::string p = sidecar(0).metrics();
    const std::string r = sidecar(1).metrics();
    ++scrapes;
    for (const char* stage : {"sent", "write", "flush", "replay"}) {
      primary_max = std::max(primary_max, primary_lag(p, stage).value_or(0));
    }
    for (const char* stage : {"receive", "replay"}) {
      replica_max = std::max(replica_max, replica_lag(r, stage).value_or(0));
    }
    std::this_thread::sleep_for(100ms);
  }
  auto done = pgbench.wait_for(1s);
  ASSERT_TRUE(done && done->exited && done->code == 0)
      << "pgbench: " << (done ? done->describe() : "?") << "\n"
      << tail_file(opts.stderr_path, 10);
  RecordProperty("primary_max_lag_bytes", std::to_string(primary_max));
  RecordProperty("replica_max_lag_bytes", std::to_string(replica_max));
  std::cout << scrapes << " scrapes during pgbench; largest lag: primary's view " << primary_max
            << " bytes, replica's view " << replica_max << " bytes\n"
            << tail_file(opts.stdout_path, 3);
  EXPECT_GT(primary_max, 0) << "the primary's replagent_replication_lag_bytes never above 0";
  EXPECT_GT(replica_max, 0) << "the replica's replagent_replica_lag_bytes never above 0";

  // Once the load ends, the replica catches up and both views return to 0.
  EXPECT_TRUE(wait_until(
      [&] {
        return replica_lag(sidecar(1).metrics(), "replay") == 0.0 &&
               primary_lag(sidecar(0).metrics(), "replay") == 0.0;
      },
      30s, 200ms))
      << sidecar(1).get("/status").body;
}

// Each replica's sidecar reads its lag from its own WAL receiver: the primary sees no
// connection from it (no fork, no SCRAM exchange, no max_wal_senders slot per replica per poll).
// Counted in the primary's log_connections lines, which name the application, over several
// poll intervals while the primary writes, so the lag the replica reports does move.
TEST_F(SidecarReplicationLag, ReplicaSidecarMakesNoConnectionToThePrimary) {
  ASSERT_NO_FATAL_FAILURE(bring_up_with_sidecars(1));
  Pod& primary = pod(0);
  Pod& replica = pod(1);
  primary.psql("ALTER SYSTEM SET log_connections = on");
  primary.psql("SELECT pg_reload_conf()");
  ASSERT_TRUE(wait_until([&] { return primary.psql("SHOW log_connections") == "on"; }, 10s));
  const auto from = std::filesystem::file_size(primary.postgres_log());

  primary.psql("CREATE TABLE ticks (n int)");
  const auto until = std::chrono::steady_clock::now() + 8 * kSidecarPollInterval;
  int writes = 0;
  std::optional<double> lag;
  while (std::chrono::steady_clock::now() < until) {
    primary.psql("INSERT INTO ticks SELECT generate_series(1, 1000)");
    ++writes;
    lag = replica_lag(sidecar(1).metrics(), "replay");
    std::this_thread::sleep_for(kSidecarPollInterval / 2);
  }
  // The replica still knows its lag, and catches up with what was written.
  EXPECT_TRUE(lag.has_value()) << sidecar(1).get("/status").body;
  EXPECT_TRUE(wait_until(
      [&] {
        return replica.psql_result("SELECT count(*) FROM ticks").out ==
                   std::to_string(writes * 1000) + "\n" &&
               replica_lag(sidecar(1).metrics(), "replay") == 0.0;
      },
      20s, 200ms))
      << sidecar(1).get("/status").body;

  const std::string log = read_file(primary.postgres_log()).substr(from);
  std::istringstream lines(log);
  int authorized = 0;
  std::vector<std::string> from_sidecar;
  for (std::string line; std::getline(lines, line);) {
    if (line.find("connection authorized") == std::string::npos) continue;
    ++authorized;
    if (line.find("replagent-sidecar-" + replica.name()) != std::string::npos)
      from_sidecar.push_back(line);
  }
  // The test's own psql sessions were logged: log_connections was in effect.
  EXPECT_GE(authorized, writes) << log;
  EXPECT_TRUE(from_sidecar.empty())
      << from_sidecar.size() << " connections from " << replica.name() << "'s sidecar in "
      << 8 * kSidecarPollInterval.count() << " ms, e.g. " << from_sidecar.front();
}

}  // namespace
}  // namespace replagent::test
