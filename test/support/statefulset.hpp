// StatefulSetTest: the fixture of the e2e suites. It drives replagent-sts (scripts/sts), the
// local StatefulSet the demo uses (pods on loopback: volume, DNS record, `replagent init`,
// postgres, sidecar), the way kubectl drives a real one: scale, delete-pod, status. The test owns
// one sts directory, its own loopback subnet and ports, and runs `sts down` at the end even when
// it failed.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "test/support/process.hpp"
#include "test/support/scratch.hpp"

namespace replagent::test {

// A client that commits one row per transaction into table `acked` on pod 0 and records the
// ids the server acknowledged: the rows that must never be lost.
class AckedWriter {
 public:
  AckedWriter(const std::filesystem::path& dir, const std::string& sts_command);
  ~AckedWriter();
  AckedWriter(const AckedWriter&) = delete;
  AckedWriter& operator=(const AckedWriter&) = delete;
  // Stops the writer and returns the acknowledged ids.
  std::set<long> stop();
  std::size_t acked_so_far() const;

 private:
  std::filesystem::path dir_;
  std::unique_ptr<ChildProcess> process_;
};

class StatefulSetTest : public ::testing::Test {
 protected:
  static constexpr int kMaxPods = 4;

  void SetUp() override;
  void TearDown() override;

  // Runs `sts <args>` (with this test's --dir); the result, not asserted. `output` names the
  // files its stdout and stderr go through (logs/<output>.stdout|stderr): a thread running sts
  // beside the test's own calls needs names of its own.
  RunResult sts(const std::vector<std::string>& args,
                std::chrono::milliseconds timeout = std::chrono::minutes(5),
                const std::string& output = "sts");
  // The same, adding a failure (with sts's output) when it does not exit 0.
  bool sts_ok(const std::vector<std::string>& args,
              std::chrono::milliseconds timeout = std::chrono::minutes(5));

  // psql -Atq on pod n's socket as the superuser; throws with stderr on failure.
  std::string psql(int n, const std::string& sql);
  RunResult psql_result(int n, const std::string& sql, const std::string& output = "sts");
  // GET http://<pod n>:9187<path>: status code (0 when unreachable) and body.
  std::pair<int, std::string> http(int n, const std::string& path);
  std::string pod_ip(int n) const { return net_.pod_ip(n); }
  std::filesystem::path volume(int n) const;
  std::filesystem::path pgdata(int n) const { return volume(n) / "pgdata"; }
  std::string init_log(int n) const;
  std::string termination_message(int n) const;
  std::string phase(int n) const;
  // A shell command line running sts for this test (for helpers that run it themselves).
  std::string sts_command() const;
  const std::filesystem::path& dir() const { return dir_; }

  // Waits until every replica in `replicas` has replayed everything pod 0 has written
  // (pg_current_wal_lsn read once, now); false on timeout.
  bool caught_up(const std::vector<int>& replicas,
                 std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // True once pg_stat_replication on pod 0 shows every replica in `replicas` streaming.
  bool streaming(const std::vector<int>& replicas,
                 std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // "count:md5 of the ids" of a table's rows on pod n, for comparing pods.
  std::string fingerprint(int n, const std::string& table, const std::string& key = "id");
  // Asserts every id in `acked` is in table acked on pod n.
  void expect_all_acked(int n, const std::set<long>& acked);

 private:
  std::unique_ptr<ScratchDir> scratch_;
  LoopbackNet net_;
  std::filesystem::path dir_;
};

}  // namespace replagent::test
