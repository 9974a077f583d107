// The fault matrix, rows 1-4, on the local StatefulSet (scripts/sts): pods deleted under load,
// scaled away and back, a primary volume lost. Each asserts that no acknowledged row is lost.
#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <thread>

#include "test/support/statefulset.hpp"

namespace replagent::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

class E2eStatefulSet : public StatefulSetTest {
 protected:
  // Pod 0 and two replicas, the table the writer fills and pgbench's tables.
  void three_pods_with_tables() {
    ASSERT_TRUE(sts_ok({"scale", "3"}));
    psql(0, "CREATE TABLE acked (id bigint PRIMARY KEY)");
    ASSERT_EQ(sts({"pgbench", "0", "-q", "-i", "-s", "1"}).exit_code(), 0);
  }

  // A background pgbench on pod 0 (it ends on its own, or when pod 0 goes away).
  std::unique_ptr<ChildProcess> start_pgbench(int seconds) {
    SpawnOptions opts;
    opts.argv = {"/bin/bash", "-c",
                 sts_command() + " pgbench 0 -n -c 2 -j 2 -T " + std::to_string(seconds)};
    opts.stdout_path = dir() / "pgbench.log";
    opts.stderr_path = dir() / "pgbench.log";
    opts.parent_death_signal = SIGTERM;
    return std::make_unique<ChildProcess>(opts);
  }

  // Every replica streams again, has replayed everything, and holds exactly pod 0's rows.
  void expect_replicas_identical(const std::vector<int>& replicas, const std::set<long>& acked) {
    ASSERT_TRUE(streaming(replicas)) << "replicas not streaming from todo-db-0 again";
    ASSERT_TRUE(caught_up(replicas)) << "replicas did not replay everything todo-db-0 wrote";
    expect_all_acked(0, acked);
    const std::string acked_rows = fingerprint(0, "acked");
    const std::string history =
        fingerprint(0, "pgbench_history", "tid || ':' || aid || ':' || delta || ':' || mtime");
    const std::string accounts = fingerprint(0, "pgbench_accounts", "aid || ':' || abalance");
    for (int n : replicas) {
      expect_all_acked(n, acked);
      EXPECT_EQ(fingerprint(n, "acked"), acked_rows) << "todo-db-" << n;
      EXPECT_EQ(
          fingerprint(n, "pgbench_history", "tid || ':' || aid || ':' || delta || ':' || mtime"),
          history)
          << "todo-db-" << n;
      EXPECT_EQ(fingerprint(n, "pgbench_accounts", "aid || ':' || abalance"), accounts)
          << "todo-db-" << n;
    }
  }

  bool wait_for_acked(const AckedWriter& w, std::size_t at_least) {
    return wait_until([&] { return w.acked_so_far() >= at_least; }, seconds(60));
  }

  // The /status last_init.action of pod n ("" when unavailable).
  std::string last_init_action(int n) {
    auto [code, body] = http(n, "/status");
    const auto pos = body.find("\"last_init\":{\"action\":\"");
    if (code != 200 || pos == std::string::npos) return "";
    const auto start = pos + std::string("\"last_init\":{\"action\":\"").size();
    return body.substr(start, body.find('"', start) - start);
  }
};

// Row 1: pod 0 killed (node gone) while pgbench and the writer commit; it comes back with its
// volume, the replicas keep their data, resume streaming and end up with every committed row.
TEST_F(E2eStatefulSet, Pod0DeletedUnderLoadLosesNoCommittedRow) {
  three_pods_with_tables();
  AckedWriter writer(dir() / "writer", sts_command());
  auto bench = start_pgbench(30);
  ASSERT_TRUE(wait_for_acked(writer, 30)) << "the writer commits nothing";
  const std::string replica_rows_before = psql(1, "SELECT count(*) FROM pgbench_history");

  ASSERT_TRUE(sts_ok({"delete-pod", "0", "--force"}));
  const std::size_t before_return = writer.acked_so_far();
  ASSERT_TRUE(wait_for_acked(writer, before_return + 30)) << "no commits after todo-db-0 returned";
  const std::set<long> acked = writer.stop();
  bench->stop(SIGINT, seconds(10));

  EXPECT_EQ(phase(0), "Running");
  EXPECT_TRUE(contains(termination_message(0), "existing primary data")) << termination_message(0);
  // The replicas were never restarted: one init each, their data kept throughout.
  for (int n : {1, 2}) {
    EXPECT_EQ(count_of(init_log(n), "init done"), 1) << init_log(n);
    EXPECT_EQ(last_init_action(n), "clone");
  }
  EXPECT_GE(std::stol(psql(1, "SELECT count(*) FROM pgbench_history")),
            std::stol(replica_rows_before));
  expect_replicas_identical({1, 2}, acked);
  RecordProperty("acked_rows", static_cast<int>(acked.size()));
}

// Reads survive a primary restart: while pod 0 is away (deleted with --force, like a node
// lost, then recreated), the replica stays Ready (sidecar.disconnected_grace, default 5m), so
// the -ro Service keeps its endpoint, and every read on it succeeds. Before, /readyz turned
// 503 ("not streaming") within a poll of the primary's going.
TEST_F(E2eStatefulSet, ReplicaStaysReadyAndServesReadsWhilePod0IsAway) {
  ASSERT_TRUE(sts_ok({"scale", "2"}));
  psql(0, "CREATE TABLE items AS SELECT generate_series(1, 100) AS id");
  ASSERT_TRUE(caught_up({1}));
  ASSERT_EQ(http(1, "/readyz").first, 200);

  std::atomic<bool> stop{false};
  std::vector<std::string> failures;
  int samples = 0, in_grace = 0;
  // A jthread: when the harness throws below (a psql that fails), the reader is stopped and
  // joined on the way out and the test reports the exception; a joinable std::thread there
  // ended the whole binary with "terminate called without an active exception".
  std::jthread reader([&](std::stop_token token) {
    while (!stop.load() && !token.stop_requested()) {
      const auto [code, body] = http(1, "/readyz");
      if (code != 200) failures.push_back("/readyz " + std::to_string(code) + ": " + body);
      if (body.find("disconnected_grace") != std::string::npos) ++in_grace;
      const RunResult read = psql_result(1, "SELECT count(*) FROM items", "reader");
      if (read.exit_code() != 0 || read.out != "100\n")
        failures.push_back("read: " + read.out + read.err);
      ++samples;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  const bool deleted = sts_ok({"delete-pod", "0", "--force"});
  // Until the replica streams from the recreated pod 0 again (its WAL receiver retries every
  // 5 s), then a little longer.
  const bool back = streaming({1}, seconds(60));
  std::this_thread::sleep_for(seconds(2));
  stop = true;
  reader.join();
  ASSERT_TRUE(deleted);
  EXPECT_TRUE(back) << "todo-db-1 does not stream from the recreated todo-db-0";
  EXPECT_GT(samples, 10);
  EXPECT_GT(in_grace, 0) << "no sample fell in the window without a primary: the test saw "
                            "nothing of the grace";
  std::string list;
  for (std::size_t i = 0; i < failures.size() && i < 10; ++i) list += failures[i] + "\n";
  EXPECT_TRUE(failures.empty()) << failures.size() << " of " << samples << " samples failed:\n"
                                << list;
  RecordProperty("samples", samples);
  RecordProperty("samples_in_grace", in_grace);
}

// Row 2: a replica deleted and recreated reuses its volume (no clone) and catches up.
TEST_F(E2eStatefulSet, ReplicaRecreatedReusesItsVolumeAndCatchesUp) {
  three_pods_with_tables();
  const auto identifier = psql(1, "SELECT system_identifier FROM pg_control_system()");
  AckedWriter writer(dir() / "writer", sts_command());
  ASSERT_TRUE(wait_for_acked(writer, 20));

  ASSERT_TRUE(sts_ok({"delete-pod", "1"}));
  EXPECT_TRUE(contains(termination_message(1), "no clone")) << termination_message(1);
  EXPECT_EQ(count_of(init_log(1), "pg_basebackup done"), 1) << "cloned once, at creation";
  EXPECT_EQ(last_init_action(1), "kept");
  EXPECT_EQ(psql(1, "SELECT system_identifier FROM pg_control_system()"), identifier);

  const std::size_t after = writer.acked_so_far();
  ASSERT_TRUE(wait_for_acked(writer, after + 20));
  const std::set<long> acked = writer.stop();
  expect_replicas_identical({1, 2}, acked);
}

// Row 3: scale 3 -> 1 -> 3. Returning pods reuse their volumes while the primary kept their
// WAL; once max_slot_wal_keep_size made it drop that WAL, they re-clone and say so in the
// log, /status and /metrics.
TEST_F(E2eStatefulSet, ScaleDownAndUpReusesVolumesOrReportsTheReclone) {
  ASSERT_TRUE(sts_ok({"set-env", "0", "REPLAGENT_POSTGRES_MAX_SLOT_WAL_KEEP_SIZE=32MiB"}));
  three_pods_with_tables();
  psql(0, "INSERT INTO acked SELECT generate_series(1, 1000)");

  // Away briefly: the slots kept the WAL, no clone.
  ASSERT_TRUE(sts_ok({"scale", "1"}));
  EXPECT_EQ(phase(1), "Deleted");
  EXPECT_EQ(phase(2), "Deleted");
  EXPECT_TRUE(fs::exists(pgdata(2) / "PG_VERSION")) << "scale-down keeps volumes";
  psql(0, "INSERT INTO acked SELECT generate_series(1001, 2000)");
  ASSERT_TRUE(sts_ok({"scale", "3"}));
  for (int n : {1, 2}) {
    EXPECT_TRUE(contains(termination_message(n), "no clone")) << termination_message(n);
    EXPECT_EQ(last_init_action(n), "kept");
  }
  std::set<long> acked;
  for (long i = 1; i <= 2000; ++i) acked.insert(i);
  expect_replicas_identical({1, 2}, acked);

  // Away while the primary writes more WAL than max_slot_wal_keep_size: the slots lose it.
  ASSERT_TRUE(sts_ok({"scale", "1"}));
  for (int i = 0; i < 4; ++i) {
    psql(0, "INSERT INTO acked SELECT generate_series(" + std::to_string(2001 + i * 5000) + ", " +
                std::to_string(2000 + (i + 1) * 5000) + ")");
    psql(0, "SELECT pg_switch_wal()");
    psql(
        0,
        "INSERT INTO pgbench_history SELECT 1, 1, aid, 0, now() FROM pgbench_accounts LIMIT 30000");
    psql(0, "SELECT pg_switch_wal()");
  }
  psql(0, "CHECKPOINT");
  ASSERT_EQ(psql(0,
                 "SELECT string_agg(slot_name || '=' || wal_status, ' ' ORDER BY slot_name) "
                 "FROM pg_replication_slots"),
            "todo_db_1=lost todo_db_2=lost");
  ASSERT_TRUE(sts_ok({"scale", "3"}));
  for (int n : {1, 2}) {
    const std::string slot = "todo_db_" + std::to_string(n);
    EXPECT_TRUE(contains(termination_message(n), "re-cloned")) << termination_message(n);
    EXPECT_TRUE(contains(termination_message(n), slot + " on the primary"))
        << termination_message(n);
    EXPECT_TRUE(contains(init_log(n), "re-cloning")) << "the log says why";
    EXPECT_EQ(last_init_action(n), "reclone");
    auto [code, metrics] = http(n, "/metrics");
    EXPECT_TRUE(contains(
        metrics, "replagent_last_init_info{action=\"reclone\",reason=\"slot_wal_removed\"} 1"))
        << metrics.substr(0, 400);
    auto [status_code, status] = http(n, "/status");
    EXPECT_TRUE(contains(status, "\"reason\":\"slot_wal_removed\"")) << status;
  }
  EXPECT_EQ(psql(0,
                 "SELECT string_agg(slot_name || '=' || wal_status, ' ' ORDER BY slot_name) "
                 "FROM pg_replication_slots"),
            "todo_db_1=reserved todo_db_2=reserved")
      << "the invalidated slots were replaced";
  for (long i = 2001; i <= 22000; ++i) acked.insert(i);
  expect_replicas_identical({1, 2}, acked);
}

// A replica scaled away cannot fill the primary's volume: once its name has been NXDOMAIN in
// the headless Service for sidecar.slot_drop_after (3 s here, 10 min by default), the
// primary's sidecar drops its slot and counts it; scaled back, the replicas re-clone (their
// slots are gone) and hold every row.
TEST_F(E2eStatefulSet, SlotsOfScaledAwayReplicasAreDroppedAndTheyRecloneOnReturn) {
  ASSERT_TRUE(sts_ok({"set-env", "0", "REPLAGENT_SIDECAR_SLOT_DROP_AFTER=3s"}));
  three_pods_with_tables();
  psql(0, "INSERT INTO acked SELECT generate_series(1, 1000)");
  ASSERT_TRUE(caught_up({1, 2}));
  EXPECT_EQ(
      psql(0, "SELECT string_agg(slot_name, ' ' ORDER BY slot_name) FROM pg_replication_slots"),
      "todo_db_1 todo_db_2");

  ASSERT_TRUE(sts_ok({"scale", "1"}));
  for (int i = 0; i < 3; ++i) {
    psql(0, "INSERT INTO acked SELECT generate_series(" + std::to_string(1001 + i * 1000) + ", " +
                std::to_string(1000 + (i + 1) * 1000) + ")");
    psql(0, "SELECT pg_switch_wal()");
  }
  EXPECT_TRUE(wait_until(
      [&] { return psql(0, "SELECT count(*) FROM pg_replication_slots") == "0"; }, seconds(60)))
      << psql(0,
              "SELECT string_agg(slot_name || ' active=' || active, ', ') FROM "
              "pg_replication_slots");
  auto [code, metrics] = http(0, "/metrics");
  EXPECT_TRUE(contains(metrics, "replagent_replication_slots_dropped_total 2")) << code;

  ASSERT_TRUE(sts_ok({"scale", "3"}));
  for (int n : {1, 2}) {
    EXPECT_EQ(last_init_action(n), "reclone") << init_log(n);
    EXPECT_TRUE(contains(termination_message(n), "todo_db_" + std::to_string(n)))
        << termination_message(n);
  }
  std::set<long> acked;
  for (long i = 1; i <= 4000; ++i) acked.insert(i);
  expect_replicas_identical({1, 2}, acked);
}

// Row 4: pod 0 comes back with an empty volume while a replica holds the data: init refuses
// (exit 5) naming the replica and its LSN, initialises nothing; the documented setting
// init.allow_empty_primary overrides.
TEST_F(E2eStatefulSet, Pod0WithAnEmptyVolumeRefusesWhileAReplicaHoldsData) {
  ASSERT_TRUE(sts_ok({"scale", "2"}));
  psql(0, "CREATE TABLE acked (id bigint PRIMARY KEY)");
  psql(0, "INSERT INTO acked SELECT generate_series(1, 500)");
  ASSERT_TRUE(caught_up({1}));

  RunResult r = sts({"delete-pod", "0", "--delete-volume"});
  EXPECT_NE(r.exit_code(), 0) << r.err;
  EXPECT_EQ(phase(0), "Init:Error(5)");
  const std::string why = termination_message(0);
  EXPECT_TRUE(contains(why, "peer todo-db-1 (" + pod_ip(1))) << why;
  EXPECT_TRUE(contains(why, "at LSN ")) << why;
  EXPECT_TRUE(contains(why, "init.allow_empty_primary")) << why;
  EXPECT_TRUE(contains(why, "(exit 5)")) << why;
  EXPECT_FALSE(fs::exists(pgdata(0))) << "nothing initialised";
  EXPECT_TRUE(fs::is_empty(volume(0)));
  EXPECT_EQ(psql(1, "SELECT count(*) FROM acked"), "500") << "the replica keeps its data";

  // The operator decides the data is expendable: the documented override.
  ASSERT_TRUE(sts_ok({"set-env", "0", "REPLAGENT_INIT_ALLOW_EMPTY_PRIMARY=true"}));
  ASSERT_TRUE(sts_ok({"delete-pod", "0"}));
  EXPECT_TRUE(contains(termination_message(0), "initialised a new primary"))
      << termination_message(0);
  EXPECT_EQ(psql(0, "SELECT to_regclass('acked') IS NULL"), "t");
}

}  // namespace
}  // namespace replagent::test
