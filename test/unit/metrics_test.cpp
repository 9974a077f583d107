// Metric rendering: names and labels as DESIGN.md "Metrics", removal of vanished series, and
// `promtool check metrics` on the result when promtool is installed.
#include "probes/metrics.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace replagent::probes {
namespace {

using namespace std::chrono_literals;
using Time = std::chrono::steady_clock::time_point;
const Time kNow = Time() + 1000s;

Snapshot primary_with(std::vector<std::string> replicas) {
  Snapshot s;
  s.sequence = 1;
  s.taken_at = kNow - 1s;
  s.poll_duration = 3ms;
  s.server_up = true;
  s.role = Role::kPrimary;
  s.timeline = 2;
  s.current_lsn = 0x3000000;
  for (const auto& name : replicas) {
    s.replicas.push_back(
        ReplicaRow{name, "streaming", 100, 200, 300, 400, 0.1, std::nullopt, std::nullopt});
    s.slots.push_back(SlotRow{name + "_slot", true, 8192});
  }
  s.filesystem = FilesystemStats{10'000'000'000ULL, 4'000'000'000ULL};
  s.error_counts = {{"connect", 2}};
  return s;
}

Snapshot replica_snapshot() {
  Snapshot s;
  s.sequence = 2;
  s.taken_at = kNow - 1s;
  s.server_up = true;
  s.role = Role::kReplica;
  s.in_recovery = true;
  s.timeline = 2;
  s.primary_lsn = 5000;
  s.receive_lsn = 4500;
  s.replay_lsn = 4000;
  s.wal_receiver_status = "streaming";
  s.replay_delay_seconds = 1.5;
  return s;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

bool mentions(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(Metrics, PrimarySeries) {
  Metrics m("1.2.3", 2s);
  const auto s = primary_with({"db-1", "db-2"});
  const std::string text = m.render(&s, kNow);
  for (const char* line : {
           "replagent_up 1",
           "pg_up 1",
           "replagent_role{role=\"primary\"} 1",
           "replagent_role{role=\"replica\"} 0",
           "replagent_in_recovery 0",
           "replagent_timeline 2",
           "replagent_replication_lag_bytes{replica=\"db-1\",stage=\"sent\"} 100",
           "replagent_replication_lag_bytes{replica=\"db-2\",stage=\"replay\"} 400",
           "replagent_replication_lag_seconds{replica=\"db-1\",stage=\"write\"} 0.1",
           "replagent_replicas_streaming 2",
           "replagent_replication_slot_retained_bytes{active=\"true\",slot=\"db-1_slot\"} 8192",
           "replagent_filesystem_size_bytes 10000000000",
           "replagent_filesystem_avail_bytes 4000000000",
           "replagent_poll_errors_total{reason=\"connect\"} 2",
           "replagent_poll_errors_total{reason=\"timeout\"} 0",
           "replagent_build_info{version=\"1.2.3\"} 1",
           "pg_replication_lag_seconds 0",
       }) {
    EXPECT_TRUE(has_line(text, line)) << line << "\n" << text;
  }
  // NULL *_lag with bytes outstanding is unknown: no sample rather than a made-up 0.
  EXPECT_FALSE(
      mentions(text, "replagent_replication_lag_seconds{replica=\"db-1\",stage=\"flush\"}"));
  EXPECT_FALSE(mentions(text, "replagent_replica_lag_bytes{"));
  EXPECT_FALSE(mentions(text, "replagent_wal_receiver_streaming 1"));
  EXPECT_TRUE(mentions(text, "# TYPE replagent_poll_duration_seconds histogram"));
  EXPECT_TRUE(mentions(text, "# TYPE replagent_poll_errors_total counter"));
  // The poller never resolves nor connects to the primary: no reasons that could only read 0.
  EXPECT_FALSE(mentions(text, "reason=\"primary\""));
  EXPECT_FALSE(mentions(text, "reason=\"resolve\""));
}

// A replica whose lag is unknown (its WAL receiver went silent or stopped): the lag series are
// absent, not a made-up 0, and the receiver's own state still shows.
TEST(Metrics, UnknownReplicaLagHasNoSample) {
  Metrics m("1", 2s);
  auto r = replica_snapshot();
  m.render(&r, kNow);
  r.primary_lsn.reset();
  r.primary_error = "WAL receiver silent: nothing heard from the primary for 40.0s";
  r.replay_delay_seconds.reset();
  const std::string text = m.render(&r, kNow);
  EXPECT_FALSE(mentions(text, "replagent_replica_lag_bytes{")) << text;
  EXPECT_FALSE(mentions(text, "replagent_replica_replay_delay_seconds ")) << text;
  EXPECT_TRUE(has_line(text, "replagent_wal_receiver_streaming 1"));
  EXPECT_TRUE(has_line(text, "replagent_up 1"));
}

TEST(Metrics, VanishedReplicaSeriesAreRemoved) {
  Metrics m("1", 2s);
  auto two = primary_with({"db-1", "db-2"});
  m.render(&two, kNow);
  auto one = primary_with({"db-1"});
  const std::string text = m.render(&one, kNow);
  EXPECT_TRUE(mentions(text, "replica=\"db-1\""));
  EXPECT_FALSE(mentions(text, "db-2")) << text;
  EXPECT_TRUE(has_line(text, "replagent_replicas_streaming 1"));
}

TEST(Metrics, ACloneInProgressIsNotAStreamingReplica) {
  Metrics m("1", 2s);
  auto p = primary_with({"db-1", "db-2"});
  p.replicas[1].replay_lag_bytes.reset();  // db-2's pg_basebackup: streaming, no replay position
  const std::string text = m.render(&p, kNow);
  EXPECT_TRUE(has_line(text, "replagent_replicas_streaming 1")) << text;
}

TEST(Metrics, RoleChangeSwapsSeries) {
  Metrics m("1", 2s);
  auto p = primary_with({"db-1"});
  m.render(&p, kNow);
  const auto r = replica_snapshot();
  const std::string text = m.render(&r, kNow);
  EXPECT_FALSE(mentions(text, "replagent_replication_lag_bytes{")) << text;
  EXPECT_FALSE(mentions(text, "replagent_replicas_streaming "));
  EXPECT_TRUE(has_line(text, "replagent_role{role=\"replica\"} 1"));
  EXPECT_TRUE(has_line(text, "replagent_in_recovery 1"));
  EXPECT_TRUE(has_line(text, "replagent_replica_lag_bytes{stage=\"receive\"} 500"));
  EXPECT_TRUE(has_line(text, "replagent_replica_lag_bytes{stage=\"replay\"} 1000"));
  EXPECT_TRUE(has_line(text, "replagent_replica_replay_delay_seconds 1.5"));
  EXPECT_TRUE(has_line(text, "pg_replication_lag_seconds 1.5"));
  EXPECT_TRUE(has_line(text, "replagent_wal_receiver_streaming 1"));
  // Counters never go down, even when a later snapshot carries no counts.
  EXPECT_TRUE(has_line(text, "replagent_poll_errors_total{reason=\"connect\"} 2"));
}

TEST(Metrics, ServerDownAndStale) {
  Metrics m("1", 2s);
  auto down = primary_with({"db-1"});
  down.server_up = false;
  std::string text = m.render(&down, kNow);
  EXPECT_TRUE(has_line(text, "replagent_up 0"));
  EXPECT_TRUE(has_line(text, "pg_up 0"));
  EXPECT_TRUE(has_line(text, "replagent_role{role=\"unknown\"} 1"));
  EXPECT_FALSE(mentions(text, "replagent_timeline "));
  EXPECT_FALSE(mentions(text, "replagent_replication_lag_bytes{"));

  auto stale = primary_with({"db-1"});
  stale.taken_at = kNow - 7s;
  text = m.render(&stale, kNow);
  EXPECT_TRUE(has_line(text, "replagent_up 0"));

  text = m.render(nullptr, kNow);
  EXPECT_TRUE(has_line(text, "replagent_up 0"));
  EXPECT_TRUE(has_line(text, "replagent_build_info{version=\"1\"} 1"));
}

// The series the alerts join on stay while the server is down, with values that say so: a
// primary streams to nobody, a replica does not stream, and in_recovery keeps the role the
// poller last knew (Snapshot::last_known_role). Series with no "down" value vanish.
TEST(Metrics, ServerDownKeepsTheAlertSeriesOfTheLastKnownRole) {
  Metrics m("1", 2s);
  auto p = primary_with({"db-1"});
  m.render(&p, kNow);
  p.server_up = false;
  p.last_known_role = Role::kPrimary;
  std::string text = m.render(&p, kNow);
  EXPECT_TRUE(has_line(text, "replagent_up 0")) << text;
  EXPECT_TRUE(has_line(text, "replagent_in_recovery 0")) << text;
  EXPECT_TRUE(has_line(text, "replagent_replicas_streaming 0")) << text;
  EXPECT_TRUE(has_line(text, "replagent_role{role=\"unknown\"} 1")) << text;
  EXPECT_FALSE(mentions(text, "replagent_wal_receiver_streaming ")) << text;
  EXPECT_FALSE(mentions(text, "replagent_replication_lag_bytes{")) << text;
  EXPECT_FALSE(mentions(text, "replagent_replication_slot_retained_bytes{")) << text;
  EXPECT_FALSE(mentions(text, "replagent_timeline ")) << text;

  Metrics mr("1", 2s);
  auto r = replica_snapshot();
  mr.render(&r, kNow);
  r.server_up = false;
  r.last_known_role = Role::kReplica;
  text = mr.render(&r, kNow);
  EXPECT_TRUE(has_line(text, "replagent_up 0")) << text;
  EXPECT_TRUE(has_line(text, "replagent_in_recovery 1")) << text;
  EXPECT_TRUE(has_line(text, "replagent_wal_receiver_streaming 0")) << text;
  EXPECT_FALSE(mentions(text, "replagent_replicas_streaming ")) << text;
  EXPECT_FALSE(mentions(text, "replagent_replica_lag_bytes{")) << text;

  // Nothing known about the role: no guess.
  r.last_known_role = Role::kUnknown;
  text = mr.render(&r, kNow);
  EXPECT_FALSE(mentions(text, "replagent_in_recovery ")) << text;
  EXPECT_FALSE(mentions(text, "replagent_wal_receiver_streaming ")) << text;
  EXPECT_TRUE(has_line(text, "replagent_up 0")) << text;
}

// What the data directory says a server that cannot be asked is.
TEST(Metrics, RoleOnDisk) {
  struct Case {
    std::optional<bool> standby_signal, pg_version;
    Role want;
  };
  for (const Case& c : {
           Case{true, true, Role::kReplica},
           Case{true, std::nullopt, Role::kReplica},
           Case{false, true, Role::kPrimary},
           Case{false, false, Role::kUnknown},  // not initialised (yet)
           Case{false, std::nullopt, Role::kUnknown},
           Case{std::nullopt, true, Role::kUnknown},  // unreadable: no guess
           Case{std::nullopt, std::nullopt, Role::kUnknown},
       }) {
    EXPECT_EQ(role_on_disk(c.standby_signal, c.pg_version), c.want)
        << (c.standby_signal ? int(*c.standby_signal) : -1) << " "
        << (c.pg_version ? int(*c.pg_version) : -1);
  }
}

TEST(Metrics, EveryPollIsObservedOnce) {
  Metrics m("1", 2s);
  auto s = primary_with({});
  m.observe_poll(s);
  m.observe_poll(s);
  const std::string text = m.render(&s, kNow);
  EXPECT_TRUE(has_line(text, "replagent_poll_duration_seconds_count 2")) << text;
  EXPECT_TRUE(has_line(text, "replagent_poll_duration_seconds_bucket{le=\"0.005\"} 2"));
}

// The value of an unlabelled sample `name`, or -1 when the exposition has none.
double sample(const std::string& text, const std::string& name) {
  const std::string prefix = name + " ";
  std::size_t at = text.rfind(prefix, 0) == 0 ? 0 : text.find("\n" + prefix);
  if (at == std::string::npos) return -1;
  if (at != 0) ++at;
  return std::stod(text.substr(at + prefix.size()));
}

// replagent_process_open_fds counts /proc/self/fd when rendered: the soak test reads it
// instead of /proc/<pid>/fd, which the agent's PR_SET_DUMPABLE 0 keeps other users from.
TEST(Metrics, OpenFdsGaugeFollowsTheProcess) {
  Metrics m("1", 2s);
  const auto s = primary_with({});
  const std::string before = m.render(&s, kNow);
  EXPECT_TRUE(mentions(before, "# TYPE replagent_process_open_fds gauge\n")) << before;
  EXPECT_TRUE(mentions(before, "# HELP replagent_process_open_fds ")) << before;
  const double n = sample(before, "replagent_process_open_fds");
  ASSERT_GT(n, 2) << before;  // at least stdin, stdout, stderr
  int fds[5];
  for (int& fd : fds) fd = ::dup(2);
  const double more = sample(m.render(&s, kNow), "replagent_process_open_fds");
  for (int fd : fds) ::close(fd);
  EXPECT_EQ(more, n + 5);
  EXPECT_EQ(sample(m.render(nullptr, kNow), "replagent_process_open_fds"), n);
}

// The TLS files' expiry as the sidecar reads it after each poll: a series per certificate with
// a value, whether or not the server answers, replaced by a renewal; none without TLS.
TEST(Metrics, TlsCertificateExpiry) {
  const std::string name = "replagent_tls_certificate_expiry_timestamp_seconds";
  Metrics m("1", 2s);
  const auto s = primary_with({});
  EXPECT_FALSE(mentions(m.render(&s, kNow), name + "{")) << "TLS off";
  agent::TlsExpiry e;
  e.cert = std::chrono::system_clock::from_time_t(2111377510);
  e.ca = std::chrono::system_clock::from_time_t(2426996709);
  m.set_tls_expiry(e);
  std::string text = m.render(&s, kNow);
  EXPECT_TRUE(mentions(text, "# TYPE " + name + " gauge\n")) << text;
  EXPECT_TRUE(has_line(text, name + "{certificate=\"server\"} 2111377510")) << text;
  EXPECT_TRUE(has_line(text, name + "{certificate=\"ca\"} 2426996709")) << text;
  EXPECT_TRUE(has_line(m.render(nullptr, kNow), name + "{certificate=\"server\"} 2111377510"));

  e.cert = std::chrono::system_clock::from_time_t(2114380800);  // renewed
  e.ca.reset();                                                 // ca.crt unreadable
  m.set_tls_expiry(e);
  text = m.render(&s, kNow);
  EXPECT_TRUE(has_line(text, name + "{certificate=\"server\"} 2114380800")) << text;
  EXPECT_FALSE(mentions(text, name + "{certificate=\"ca\"}")) << text;
}

TEST(Metrics, PromtoolAcceptsTheExposition) {
  const char* promtool = "/usr/bin/promtool";
  if (::access(promtool, X_OK) != 0) GTEST_SKIP() << "promtool not installed";
  Metrics m("0.1.0", 2s);
  auto p = primary_with({"db-1", "db-\"2\""});
  m.observe_poll(p);
  m.set_tls_expiry({std::chrono::system_clock::from_time_t(2111377510),
                    std::chrono::system_clock::from_time_t(2426996709)});
  const auto dir =
      std::filesystem::temp_directory_path() / ("replagent-metrics-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (const auto& [name, text] : {std::pair{std::string("primary"), m.render(&p, kNow)},
                                   std::pair{std::string("replica"), [&] {
                                               const auto r = replica_snapshot();
                                               return m.render(&r, kNow);
                                             }()}}) {
    const auto file = dir / (name + ".txt");
    std::ofstream(file) << text;
    const std::string cmd = std::string(promtool) + " check metrics < " + file.string() + " > " +
                            (dir / (name + ".out")).string() + " 2>&1";
    const int rc = std::system(cmd.c_str());
    std::ifstream out(dir / (name + ".out"));
    const std::string lint((std::istreambuf_iterator<char>(out)), {});
    EXPECT_EQ(rc, 0) << name << ": " << lint << "\n" << text;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace replagent::probes
