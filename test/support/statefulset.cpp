#include "test/support/statefulset.hpp"

#include <signal.h>

#include <fstream>
#include <iostream>
#include <sstream>

#ifndef REPLAGENT_BINARY
#error "REPLAGENT_BINARY must name the replagent executable (set by test/CMakeLists.txt)"
#endif
#ifndef REPLAGENT_STS
#error "REPLAGENT_STS must name the replagent-sts executable (set by test/CMakeLists.txt)"
#endif

namespace replagent::test {
namespace fs = std::filesystem;

namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

// ---- AckedWriter ---------------------------------------------------------------------------

AckedWriter::AckedWriter(const fs::path& dir, const std::string& sts_command) : dir_(dir) {
  fs::create_directories(dir_);
  fs::remove(dir_ / "stop");
  write_file(dir_ / "acked", "");
  SpawnOptions opts;
  // One transaction per row; an id is recorded only once psql saw the COMMIT succeed.
  opts.argv = {"/bin/bash", "-c",
               "cd " + shell_quote(dir_.string()) +
                   " && i=0 && while [ ! -e stop ]; do i=$((i+1)); "
                   "if " +
                   sts_command +
                   " psql 0 -Atq -v ON_ERROR_STOP=1 -c \"INSERT INTO acked(id) VALUES ($i)\" "
                   ">/dev/null 2>>writer.err; then echo $i >>acked; else sleep 0.1; fi; done"};
  opts.stderr_path = dir_ / "writer.err";
  opts.parent_death_signal = SIGTERM;
  process_ = std::make_unique<ChildProcess>(opts);
}

AckedWriter::~AckedWriter() {
  if (process_ && process_->running()) process_->stop(SIGTERM, std::chrono::seconds(5));
}

std::size_t AckedWriter::acked_so_far() const {
  std::ifstream in(dir_ / "acked");
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

std::set<long> AckedWriter::stop() {
  write_file(dir_ / "stop", "");
  if (!process_->wait_for(std::chrono::seconds(30)))
    process_->stop(SIGTERM, std::chrono::seconds(5));
  std::set<long> ids;
  std::ifstream in(dir_ / "acked");
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) ids.insert(std::stol(line));
  }
  return ids;
}

// ---- StatefulSetTest ---------------------------------------------------------------------------

void StatefulSetTest::SetUp() {
  if (::geteuid() == 0) GTEST_FAIL() << "e2e tests must not run as root (PostgreSQL refuses it)";
  scratch_ = std::make_unique<ScratchDir>();
  net_ = allocate_loopback_net(kMaxPods);
  dir_ = scratch_->path() / "sts";
  RecordProperty("sts_dir", dir_.string());
  // The first command fixes the subnet, ports and binary in sts.conf.
  ASSERT_TRUE(sts_ok({"status"}));
}

std::string StatefulSetTest::sts_command() const {
  return shell_quote(REPLAGENT_STS) + " --dir " + shell_quote(dir_.string()) + " --net " +
         shell_quote("127." + std::to_string(net_.a) + "." + std::to_string(net_.b)) + " --port " +
         std::to_string(net_.port) + " --dns-port " + std::to_string(net_.dns_port) + " --bin " +
         shell_quote(REPLAGENT_BINARY) + " --ready-timeout 90";
}

RunResult StatefulSetTest::sts(const std::vector<std::string>& args,
                               std::chrono::milliseconds timeout, const std::string& output) {
  std::string line = sts_command();
  for (const auto& a : args) line += " " + shell_quote(a);
  SpawnOptions opts;
  opts.argv = {"/bin/bash", "-c", line};
  fs::create_directories(scratch_->path() / "logs");
  opts.stdout_path = scratch_->path() / "logs" / (output + ".stdout");
  opts.stderr_path = scratch_->path() / "logs" / (output + ".stderr");
  // Keep every command's output: run_process truncates, so collect it in one log as well.
  RunResult r = run_process(opts, timeout);
  std::ofstream(scratch_->path() / "logs" / (output + ".log"), std::ios::app) << "$ sts " << [&] {
    std::string s;
    for (const auto& a : args) s += a + " ";
    return s;
  }() << "-> " << r.status.describe() << "\n" << r.err << r.out;
  return r;
}

bool StatefulSetTest::sts_ok(const std::vector<std::string>& args,
                             std::chrono::milliseconds timeout) {
  RunResult r = sts(args, timeout);
  if (r.exit_code() == 0) return true;
  std::string cmd;
  for (const auto& a : args) cmd += " " + a;
  ADD_FAILURE() << "sts" << cmd << ": " << (r.timed_out ? "timed out" : r.status.describe())
                << "\n-- stderr:\n"
                << r.err << "-- stdout:\n"
                << r.out;
  return false;
}

RunResult StatefulSetTest::psql_result(int n, const std::string& sql, const std::string& output) {
  return sts({"psql", std::to_string(n), "-Atq", "-v", "ON_ERROR_STOP=1", "-c", sql},
             std::chrono::seconds(60), output);
}

std::string StatefulSetTest::psql(int n, const std::string& sql) {
  RunResult r = psql_result(n, sql);
  if (r.exit_code() != 0) {
    throw std::runtime_error("todo-db-" + std::to_string(n) + ": psql -c \"" + sql + "\" " +
                             r.status.describe() + ": " + r.err);
  }
  return trimmed(r.out);
}

std::pair<int, std::string> StatefulSetTest::http(int n, const std::string& path) {
  SpawnOptions opts;
  opts.argv = {"/usr/bin/curl",
               "-s",
               "-m",
               "5",
               "-w",
               "\n%{http_code}",
               "http://" + pod_ip(n) + ":9187" + path};
  RunResult r = run_process(opts, std::chrono::seconds(10));
  const auto nl = r.out.rfind('\n');
  if (nl == std::string::npos) return {0, ""};
  return {std::atoi(r.out.c_str() + nl + 1), r.out.substr(0, nl)};
}

fs::path StatefulSetTest::volume(int n) const { return dir_ / ("vol-" + std::to_string(n)); }

std::string StatefulSetTest::init_log(int n) const {
  const fs::path p = dir_ / "logs" / ("todo-db-" + std::to_string(n) + ".init.log");
  return fs::exists(p) ? read_file(p) : "";
}

std::string StatefulSetTest::termination_message(int n) const {
  const fs::path p = dir_ / ("termination-log-" + std::to_string(n));
  return fs::exists(p) ? trimmed(read_file(p)) : "";
}

std::string StatefulSetTest::phase(int n) const {
  const fs::path p = dir_ / ("pod-" + std::to_string(n) + ".phase");
  return fs::exists(p) ? trimmed(read_file(p)) : "Deleted";
}

bool StatefulSetTest::streaming(const std::vector<int>& replicas,
                                std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        for (int n : replicas) {
          RunResult r = psql_result(0,
                                    "SELECT count(*) FROM pg_stat_replication WHERE state = "
                                    "'streaming' AND application_name = 'todo-db-" +
                                        std::to_string(n) + "'");
          if (r.exit_code() != 0 || trimmed(r.out) != "1") return false;
        }
        return true;
      },
      timeout, std::chrono::milliseconds(250));
}

bool StatefulSetTest::caught_up(const std::vector<int>& replicas,
                                std::chrono::milliseconds timeout) {
  const std::string target = psql(0, "SELECT pg_current_wal_lsn()");
  return wait_until(
      [&] {
        for (int n : replicas) {
          RunResult r =
              psql_result(n, "SELECT pg_last_wal_replay_lsn() >= '" + target + "'::pg_lsn");
          if (r.exit_code() != 0 || trimmed(r.out) != "t") return false;
        }
        return true;
      },
      timeout, std::chrono::milliseconds(250));
}

std::string StatefulSetTest::fingerprint(int n, const std::string& table, const std::string& key) {
  return psql(n, "SELECT count(*) || ':' || coalesce(md5(string_agg((" + key +
                     ")::text, ',' ORDER BY (" + key + ")::text)), '-') FROM " + table);
}

void StatefulSetTest::expect_all_acked(int n, const std::set<long>& acked) {
  const std::string ids = psql(n, "SELECT string_agg(id::text, ' ') FROM acked");
  std::set<long> present;
  std::istringstream in(ids);
  for (long id; in >> id;) present.insert(id);
  std::vector<long> lost;
  for (long id : acked) {
    if (!present.count(id)) lost.push_back(id);
  }
  std::string sample;
  for (std::size_t i = 0; i < lost.size() && i < 20; ++i) sample += std::to_string(lost[i]) + " ";
  EXPECT_TRUE(lost.empty()) << "todo-db-" << n << " lost " << lost.size() << " of " << acked.size()
                            << " acknowledged rows, e.g. " << sample;
}

void StatefulSetTest::TearDown() {
  if (!scratch_) return;
  if (HasFailure()) {
    std::string report = "==== sts directory kept: " + dir_.string() + "\n";
    RunResult st = sts({"status"}, std::chrono::seconds(30));
    report += "---- sts status:\n" + st.out + st.err;
    for (int n = 0; n < kMaxPods; ++n) {
      for (const char* what : {"init", "postgres", "sidecar"}) {
        const fs::path p = dir_ / "logs" / ("todo-db-" + std::to_string(n) + "." + what + ".log");
        if (fs::exists(p)) report += "---- " + p.string() + ":\n" + tail_file(p, 15);
      }
    }
    report += "---- sts commands:\n" + tail_file(scratch_->path() / "logs" / "sts.log", 40);
    std::cerr << report << std::flush;
    scratch_->keep();
  }
  RunResult down = sts({"down"}, std::chrono::minutes(2));
  if (down.exit_code() != 0)
    ADD_FAILURE() << "sts down: " << down.status.describe() << "\n" << down.err;
  scratch_.reset();
}

}  // namespace replagent::test
