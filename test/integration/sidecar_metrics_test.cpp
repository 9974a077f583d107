// The sidecar's /metrics as Prometheus consumes it: promtool lints real scrapes from a primary
// and a replica, and a real Prometheus server scrapes three sidecars and answers with the
// per-replica lag series.
#include <iostream>
#include <thread>

#include "test/support/prometheus.hpp"
#include "test/support/sidecar.hpp"

namespace replagent::test {
namespace {
using namespace std::chrono_literals;

class SidecarMetrics : public SidecarTest {};

TEST_F(SidecarMetrics, PromtoolAcceptsPrimaryAndReplicaScrapes) {
  ASSERT_NO_FATAL_FAILURE(bring_up_with_sidecars(1));
  // A few polls, so the histogram and counters have samples too.
  std::this_thread::sleep_for(3 * kSidecarPollInterval);

  const std::string primary = sidecar(0).metrics();
  const std::string replica = sidecar(1).metrics();
  // The scrapes hold the role-specific series being linted, not just the common ones.
  EXPECT_TRUE(metric_value(primary, "replagent_replication_lag_bytes",
                           {{"replica", "todo-db-1"}, {"stage", "replay"}}))
      << primary;
  EXPECT_TRUE(
      metric_value(primary, "replagent_replication_slot_retained_bytes", {{"slot", "todo_db_1"}}))
      << primary;
  EXPECT_TRUE(metric_value(replica, "replagent_replica_lag_bytes", {{"stage", "replay"}}))
      << replica;
  EXPECT_TRUE(metric_value(replica, "replagent_replica_replay_delay_seconds")) << replica;
  EXPECT_EQ(metric_value(primary, "replagent_role", {{"role", "primary"}}), 1.0);
  EXPECT_EQ(metric_value(replica, "replagent_role", {{"role", "replica"}}), 1.0);
  EXPECT_TRUE(metric_value(primary, "replagent_poll_duration_seconds_count").value_or(0) >= 2)
      << primary;

  for (const auto& [name, text] : {std::pair{"primary", primary}, std::pair{"replica", replica}}) {
    RunResult r = promtool_check_metrics(text, scratch() / "promtool", name);
    EXPECT_EQ(r.exit_code(), 0) << "promtool check metrics on the " << name << " scrape:\n"
                                << r.out << r.err;
    EXPECT_EQ(r.out + r.err, "") << name;
  }
}

TEST_F(SidecarMetrics, PrometheusScrapesLagForEachReplica) {
  ASSERT_NO_FATAL_FAILURE(bring_up_with_sidecars(2));
  std::vector<PrometheusServer::Target> targets;
  for (int i = 0; i <= 2; ++i) targets.push_back({sidecar(i).address(), pod(i).name()});
  PrometheusServer prometheus(scratch() / "prometheus", dns().ip(), targets);

  // Every target scraped successfully (up == 1 for all three).
  HttpReply up;
  EXPECT_TRUE(wait_until(
      [&] {
        up = prometheus.query("sum(up{job=\"replagent\"})");
        return up.status == 200 && up.body.find(",\"3\"]") != std::string::npos;
      },
      30s, 250ms))
      << up.status << " " << up.error << up.body << "\n"
      << prometheus.log_tail();

  // The primary's per-replica series, one per replica, labelled by the replica's pod name.
  HttpReply lag;
  EXPECT_TRUE(wait_until(
      [&] {
        lag = prometheus.query("replagent_replication_lag_bytes{stage=\"replay\"}");
        return lag.status == 200 &&
               lag.body.find("\"replica\":\"todo-db-1\"") != std::string::npos &&
               lag.body.find("\"replica\":\"todo-db-2\"") != std::string::npos;
      },
      30s, 250ms))
      << lag.status << " " << lag.error << lag.body << "\n"
      << prometheus.log_tail();
  EXPECT_NE(lag.body.find("\"pod\":\"todo-db-0\""), std::string::npos) << lag.body;
  std::cout << "prometheus: " << lag.body << "\n";

  // And each replica's own view.
  HttpReply own = prometheus.query("replagent_replica_lag_bytes{stage=\"replay\"}");
  EXPECT_NE(own.body.find("\"pod\":\"todo-db-1\""), std::string::npos) << own.body;
  EXPECT_NE(own.body.find("\"pod\":\"todo-db-2\""), std::string::npos) << own.body;
}

// The value of `name` (with `labels`) in a fresh scrape of `s` once it equals `want`; false
// (with the last scrape in *last) if it never does within 20 s.
bool eventually_metric(Sidecar& s, const std::string& name, double want, std::string* last,
                       const std::map<std::string, std::string>& labels = {}) {
  return wait_until(
      [&] {
        *last = s.metrics();
        return metric_value(*last, name, labels) == want;
      },
      20s, 100ms);
}

// The series the alerts join on do not vanish when a replica's PostgreSQL stops under a live
// sidecar: replagent_up 0, and the replica still says it is one (in_recovery 1) that does not
// stream (0). Before, both series disappeared with the server, so "replica not streaming"
// resolved exactly when the replica went down. The primary, up, counts one replica fewer.
TEST_F(SidecarMetrics, AReplicaDownKeepsItsAlertSeriesWithDownValues) {
  ASSERT_NO_FATAL_FAILURE(bring_up_with_sidecars(2));
  std::string text;
  ASSERT_TRUE(eventually_metric(sidecar(0), "replagent_replicas_streaming", 2, &text)) << text;

  pod(1).stop_postgres();
  ASSERT_TRUE(eventually_metric(sidecar(1), "replagent_up", 0, &text)) << text;
  EXPECT_EQ(metric_value(text, "replagent_in_recovery"), 1.0) << text;
  EXPECT_EQ(metric_value(text, "replagent_wal_receiver_streaming"), 0.0) << text;
  EXPECT_EQ(metric_value(text, "pg_up"), 0.0) << text;
  // No primary series on a replica that is down, and no made-up lag.
  EXPECT_FALSE(metric_value(text, "replagent_replicas_streaming")) << text;
  EXPECT_FALSE(metric_value(text, "replagent_replica_lag_bytes", {{"stage", "replay"}})) << text;
  EXPECT_TRUE(eventually_metric(sidecar(0), "replagent_replicas_streaming", 1, &text)) << text;

  // A sidecar that starts while its server is down has seen no role: the data directory
  // (standby.signal) says it is a replica.
  ASSERT_EQ(sidecar(1).stop().code, 0);
  Sidecar& fresh = start_sidecar(pod(1));
  ASSERT_TRUE(eventually_metric(fresh, "replagent_in_recovery", 1, &text)) << text;
  EXPECT_EQ(metric_value(text, "replagent_up"), 0.0) << text;
  EXPECT_EQ(metric_value(text, "replagent_wal_receiver_streaming"), 0.0) << text;

  // Back up: the real values again.
  pod(1).start_postgres();
  EXPECT_TRUE(eventually_metric(fresh, "replagent_wal_receiver_streaming", 1, &text)) << text;
  EXPECT_TRUE(eventually_metric(sidecar(0), "replagent_replicas_streaming", 2, &text)) << text;
}

// The primary's PostgreSQL stops under its live sidecar: it is still the primary
// (in_recovery 0) and streams to nobody (replagent_replicas_streaming 0), so "the primary
// streams to fewer than replicas - 1" fires through the outage; the replica, up, stops
// streaming and says so. A fresh sidecar tells the primary from its data directory.
TEST_F(SidecarMetrics, ThePrimaryDownKeepsItsAlertSeriesWithDownValues) {
  ASSERT_NO_FATAL_FAILURE(bring_up_with_sidecars(1));
  std::string text;
  ASSERT_TRUE(eventually_metric(sidecar(0), "replagent_replicas_streaming", 1, &text)) << text;

  pod(0).stop_postgres();
  ASSERT_TRUE(eventually_metric(sidecar(0), "replagent_up", 0, &text)) << text;
  EXPECT_EQ(metric_value(text, "replagent_in_recovery"), 0.0) << text;
  EXPECT_EQ(metric_value(text, "replagent_replicas_streaming"), 0.0) << text;
  EXPECT_FALSE(metric_value(text, "replagent_wal_receiver_streaming")) << text;
  EXPECT_FALSE(
      metric_value(text, "replagent_replication_slot_retained_bytes", {{"slot", "todo_db_1"}}))
      << text;
  EXPECT_TRUE(eventually_metric(sidecar(1), "replagent_wal_receiver_streaming", 0, &text)) << text;
  EXPECT_EQ(metric_value(text, "replagent_in_recovery"), 1.0) << text;

  ASSERT_EQ(sidecar(0).stop().code, 0);
  Sidecar& fresh = start_sidecar(pod(0));
  ASSERT_TRUE(eventually_metric(fresh, "replagent_in_recovery", 0, &text)) << text;
  EXPECT_EQ(metric_value(text, "replagent_up"), 0.0) << text;
  EXPECT_EQ(metric_value(text, "replagent_replicas_streaming"), 0.0) << text;
}

}  // namespace
}  // namespace replagent::test
