#include "test/support/cluster.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

namespace replagent::test {

std::string describe(const InitResult& r) {
  std::string s =
      "replagent init " +
      (r.timed_out ? std::string("timed out (killed by the harness)") : r.status.describe()) +
      " after " + std::to_string(r.elapsed.count()) + " ms";
  // The tail is what explains a failure; a clone's progress lines before it are noise.
  std::string err = r.err;
  std::size_t pos = err.size();
  for (int lines = 0; pos > 0 && lines <= 40; --pos) {
    if (err[pos - 1] == '\n') ++lines;
  }
  if (pos > 0) err = "[...]\n" + err.substr(pos + 1);
  s += "\n-- stderr:\n" + (err.empty() ? std::string("(empty)\n") : err);
  if (!r.out.empty()) s += "-- stdout:\n" + r.out;
  return s;
}

void ClusterTest::SetUp() {
  // PostgreSQL refuses to run as root, and a root test could damage what it does not own.
  if (::geteuid() == 0) {
    GTEST_FAIL() << "integration tests must not run as root: PostgreSQL refuses it. Run them as "
                    "an unprivileged user, e.g. runuser -u postgres -- "
                    "build/test/replagent_integration_tests (scripts/test does this)";
  }
  scratch_ = std::make_unique<ScratchDir>();
  net_ = allocate_loopback_net(kMaxPods);
  RecordProperty("scratch", scratch_->path().string());
  dns_ = std::make_unique<DnsServer>(scratch_->path(), net_.dns_ip(), net_.dns_port);
  set_.scratch = scratch_->path();
  set_.port = net_.port;
  set_.dns = dns_.get();
  set_.superuser_password = random_token(24);
  set_.replication_password = random_token(24);
  // Kubernetes mounts Secret keys as files without a trailing newline.
  set_.superuser_password_file = write_secret("superuser-password", set_.superuser_password);
  set_.replication_password_file = write_secret("replication-password", set_.replication_password);
  set_.monitor_password = random_token(24);
  set_.backup_password = random_token(24);
  set_.monitor_password_file = write_secret("monitor-password", set_.monitor_password);
  set_.backup_password_file = write_secret("backup-password", set_.backup_password);
}

std::string ClusterTest::write_secret(const std::string& name, const std::string& value) {
  auto dir = scratch_->path() / "secrets";
  std::filesystem::create_directories(dir);
  write_file(dir / name, value);
  return (dir / name).string();
}

void ClusterTest::TearDown() {
  if (!scratch_) return;
  const bool failed = HasFailure();
  if (failed) {
    std::string report = "==== scratch directory kept: " + scratch_->path().string() + "\n";
    for (const auto& p : pods_) report += p->failure_report();
    if (dns_) report += "---- dnsmasq log:\n" + tail_file(dns_->log_path(), 10);
    std::cerr << report << std::flush;
    scratch_->keep();
  }
  if (const char* keep = std::getenv("REPLAGENT_TEST_KEEP_SCRATCH"); keep && *keep == '1') {
    std::cerr << "scratch directory kept (REPLAGENT_TEST_KEEP_SCRATCH=1): "
              << scratch_->path().string() << "\n";
    scratch_->keep();
  }
  // Servers first (pods, then DNS), then the directories they used.
  pods_.clear();
  dns_.reset();
  // Orphans of our children (re-parented to this subreaper process) would outlive the test:
  // report them, then end them, since they descend from processes this test started.
  auto orphans = adopted_orphans();
  if (!orphans.empty()) {
    ADD_FAILURE() << "processes left behind by this test:\n" << describe(orphans);
    for (const auto& p : orphans) ::kill(p.pid, SIGKILL);
    wait_until([] { return adopted_orphans().empty(); }, std::chrono::seconds(10));
    scratch_->keep();
  }
  scratch_.reset();
}

Pod& ClusterTest::pod(int ordinal) {
  if (ordinal < 0 || ordinal >= kMaxPods) throw std::out_of_range("pod ordinal");
  for (auto& p : pods_) {
    if (p->ordinal() == ordinal) return *p;
  }
  pods_.push_back(std::make_unique<Pod>(set_, ordinal, net_.pod_ip(ordinal)));
  return *pods_.back();
}

Pod& ClusterTest::pod_on(int ordinal, const std::string& ip) {
  if (ordinal < 0 || ordinal >= kMaxPods) throw std::out_of_range("pod ordinal");
  for (auto& p : pods_) {
    if (p->ordinal() == ordinal)
      throw std::logic_error(p->name() + " already exists on " + p->ip());
  }
  // allocate_loopback_net checked the port on the pods' own addresses only; another test
  // process could hold it on a shared address such as ::1.
  const bool v6 = ip.find(':') != std::string::npos;
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(net_.port);
    ::inet_pton(AF_INET6, ip.c_str(), &a->sin6_addr);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(net_.port);
    ::inet_pton(AF_INET, ip.c_str(), &a->sin_addr);
    len = sizeof *a;
  }
  const bool free = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0;
  if (fd >= 0) ::close(fd);
  if (!free) {
    throw std::runtime_error("port " + std::to_string(net_.port) + " on " + ip +
                             " is taken (another test on the same address?)");
  }
  pods_.push_back(std::make_unique<Pod>(set_, ordinal, ip));
  return *pods_.back();
}

void ClusterTest::expect_exit(const InitResult& r, int code, const std::string& what) {
  EXPECT_EQ(r.exit_code, code) << what << ": " << describe(r);
}

void ClusterTest::bring_up_primary(Pod& primary) {
  InitResult r = primary.run_init();
  ASSERT_EQ(r.exit_code, 0) << "primary init: " << describe(r);
  ASSERT_TRUE(primary.has_pg_version());
  primary.start_postgres();
  primary.publish_dns();
}

bool ClusterTest::streaming(Pod& primary, const std::string& application_name) {
  RunResult r = primary.psql_result(
      "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND "
      "application_name = '" +
      application_name + "'");
  return r.exit_code() == 0 && r.out.rfind("1", 0) == 0;
}

void ClusterTest::bring_up_replica(Pod& replica, Pod& primary) {
  InitResult r = replica.run_init();
  ASSERT_EQ(r.exit_code, 0) << replica.name() << " init: " << describe(r);
  ASSERT_TRUE(replica.has_pg_version());
  replica.start_postgres();
  ASSERT_TRUE(
      wait_until([&] { return streaming(primary, replica.name()); }, std::chrono::seconds(30)))
      << replica.name() << " is not streaming from " << primary.name();
}

}  // namespace replagent::test
