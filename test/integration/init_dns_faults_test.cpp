// Issue #6, fault matrix row 7: the cluster DNS answers SERVFAIL, never answers, or flaps while
// `replagent init` runs. Every wait is bounded by init.wait_timeout, every error names the host
// and the DNS failure, a late answer still leads to a clone, and flapping never leaves a half
// clone. The DNS server is a real dnsmasq; its upstream (test/support/dns_faults) decides how
// names without a record fail.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "test/support/cluster.hpp"
#include "test/support/dns_faults.hpp"

namespace replagent::test {
namespace {

namespace fs = std::filesystem;
using Mode = FaultyUpstream::Mode;
using namespace std::chrono_literals;

struct LogLine {
  std::string level;
  std::string msg;
};

// The agent's --log-format json lines ({"ts":..,"level":..,"msg":..}); a line that is not such
// an object fails the test.
std::vector<LogLine> json_log(const std::string& err) {
  std::vector<LogLine> lines;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    EXPECT_TRUE(line.front() == '{' && line.back() == '}') << "not a JSON log line: " << line;
    auto field = [&](const std::string& key) {
      const std::string tag = "\"" + key + "\":\"";
      auto pos = line.find(tag);
      if (pos == std::string::npos) return std::string();
      std::string out;
      for (pos += tag.size(); pos < line.size() && line[pos] != '"'; ++pos) {
        if (line[pos] == '\\' && pos + 1 < line.size()) ++pos;
        out += line[pos];
      }
      return out;
    };
    lines.push_back({field("level"), field("msg")});
    EXPECT_FALSE(lines.back().level.empty()) << line;
  }
  return lines;
}

// Log lines whose message contains every one of `parts`.
int count_lines(const std::vector<LogLine>& log, const std::vector<std::string>& parts) {
  int n = 0;
  for (const auto& l : log) {
    bool all = true;
    for (const auto& p : parts) all = all && l.msg.find(p) != std::string::npos;
    n += all ? 1 : 0;
  }
  return n;
}

std::string dump(const std::vector<LogLine>& log) {
  std::string s;
  for (const auto& l : log) s += "  [" + l.level + "] " + l.msg + "\n";
  return s;
}

unsigned test_seed() {
  if (const char* s = std::getenv("REPLAGENT_TEST_SEED"); s && *s) {
    return static_cast<unsigned>(std::strtoul(s, nullptr, 10));
  }
  return static_cast<unsigned>(std::chrono::system_clock::now().time_since_epoch().count());
}

// Only the volume's PGDATA may remain after an init, whatever its outcome: no staging or run
// directory, no moved-aside data.
void expect_no_leftovers(const Pod& p, const std::string& when) {
  for (const auto& e : fs::directory_iterator(p.volume())) {
    EXPECT_EQ(e.path().filename(), "pgdata") << when << ": left in the volume: " << e.path();
  }
}

class InitDnsFaults : public ClusterTest {
 protected:
  void TearDown() override {
    if (HasFailure() && faulty_) {
      std::cerr << "---- fault dnsmasq log (upstream " << to_string(faulty_->upstream().mode())
                << ", " << faulty_->upstream().queries() << " queries):\n"
                << tail_file(faulty_->log_path(), 15);
    }
    faulty_.reset();  // before the fixture's check for processes left behind
    ClusterTest::TearDown();
  }

  // The fault DNS beside the test's own: dnsmasq on .3, its upstream on .4, same port.
  FaultyDns& faulty(Mode mode) {
    faulty_ = std::make_unique<FaultyDns>(scratch().path(), sibling_ip(dns().ip(), 3),
                                          sibling_ip(dns().ip(), 4), dns().port(), mode);
    return *faulty_;
  }

  Env via_faulty(Env env = {}) {
    env["REPLAGENT_DNS_SERVERS"] = faulty_->server();
    return env;
  }

  // The replica's data: streaming from the primary and showing its row.
  void expect_replica_serves(Pod& replica, Pod& primary, const std::string& expected_count) {
    ASSERT_TRUE(replica.has_pg_version());
    EXPECT_TRUE(fs::exists(replica.pgdata() / "standby.signal"));
    replica.start_postgres();
    EXPECT_TRUE(wait_until([&] { return streaming(primary, replica.name()); }, 30s))
        << replica.name() << " is not streaming";
    EXPECT_TRUE(wait_until(
        [&] {
          RunResult q = replica.psql_result("SELECT count(*) FROM todo");
          return q.exit_code() == 0 && q.out == expected_count + "\n";
        },
        20s))
        << replica.name() << " does not show the primary's rows";
    replica.stop_postgres();
  }

  void bring_up_primary_with_rows(Pod& primary) {
    ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
    primary.psql(
        "CREATE TABLE todo (item text); INSERT INTO todo SELECT 'item ' || g FROM "
        "generate_series(1, 100) g");
  }

  std::unique_ptr<FaultyDns> faulty_;
};

// (a) SERVFAIL for the primary's name during the whole wait.
TEST_F(InitDnsFaults, ServfailForTheWholeWaitTimesOut) {
  FaultyDns& dns = faulty(Mode::kServfail);
  ASSERT_EQ(dns.query("todo-db-0.todo-db.default.svc.cluster.local").rcode, 2)
      << "dnsmasq does not relay the upstream's SERVFAIL";
  Pod& replica = pod(1);
  InitResult r = replica.run_init(via_faulty({{"REPLAGENT_INIT_WAIT_TIMEOUT", "3s"}}), 60s);
  std::cout << "SERVFAIL: init exited " << r.exit_code << " after " << r.elapsed.count()
            << " ms (wait_timeout 3 s), upstream saw " << dns.upstream().queries() << " queries\n";
  EXPECT_EQ(r.exit_code, 3) << describe(r);
  // Bounded: the wait, one DNS timeout (500 ms) and start-up, with a wide margin.
  EXPECT_LT(r.elapsed, 3s + 10s) << describe(r);
  EXPECT_GE(r.elapsed, 3s) << "gave up before init.wait_timeout";
  EXPECT_GE(dns.upstream().queries(), 2) << "dnsmasq did not forward the queries";

  const auto log = json_log(r.err);
  // The waits, each with its reason.
  EXPECT_GE(count_lines(log, {"waiting for DNS todo-db-0.todo-db.default.svc.cluster.local",
                              "SERVFAIL", "try "}),
            2)
      << dump(log);
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back().level, "error") << dump(log);
  EXPECT_NE(log.back().msg.find("todo-db-0.todo-db.default.svc.cluster.local"), std::string::npos)
      << log.back().msg;
  EXPECT_NE(log.back().msg.find("SERVFAIL"), std::string::npos) << log.back().msg;
  EXPECT_NE(log.back().msg.find("init.wait_timeout"), std::string::npos) << log.back().msg;
  EXPECT_NE(log.back().msg.find(dns.server()), std::string::npos)
      << "the message names the DNS server: " << log.back().msg;
  EXPECT_NE(read_file(replica.termination_log()).find("SERVFAIL"), std::string::npos);
  EXPECT_FALSE(replica.has_pg_version());
  expect_no_leftovers(replica, "after the timeout");
}

// (b) Queries that are never answered: through dnsmasq (silent upstream), and straight at a
// UDP socket that never answers.
TEST_F(InitDnsFaults, UnansweredQueriesTimeOut) {
  FaultyDns& dns = faulty(Mode::kSilent);
  Pod& replica = pod(1);
  const std::string silent_socket =
      dns.upstream().ip() + ":" + std::to_string(dns.upstream().port());
  for (const std::string& server : {dns.server(), silent_socket}) {
    SCOPED_TRACE("dns.servers " + server);
    // A per-query timeout of 2 s against a 3 s wait: the last query may overrun the wait by
    // at most one query's timeout.
    InitResult r = replica.run_init({{"REPLAGENT_DNS_SERVERS", server},
                                     {"REPLAGENT_DNS_TIMEOUT", "2s"},
                                     {"REPLAGENT_INIT_WAIT_TIMEOUT", "3s"}},
                                    60s);
    std::cout << "no answer from " << server << ": init exited " << r.exit_code << " after "
              << r.elapsed.count() << " ms (wait_timeout 3 s, dns.timeout 2 s)\n";
    EXPECT_EQ(r.exit_code, 3) << describe(r);
    EXPECT_LT(r.elapsed, 3s + 2s + 10s) << describe(r);
    EXPECT_GE(r.elapsed, 3s) << describe(r);
    const auto log = json_log(r.err);
    EXPECT_GE(
        count_lines(log, {"waiting for DNS todo-db-0", "timeout", "no answer from " + server}), 1)
        << dump(log);
    ASSERT_FALSE(log.empty());
    EXPECT_EQ(log.back().level, "error");
    EXPECT_NE(log.back().msg.find("todo-db-0.todo-db.default.svc.cluster.local"), std::string::npos)
        << log.back().msg;
    EXPECT_NE(log.back().msg.find("timeout (no answer from " + server + " within dns.timeout"),
              std::string::npos)
        << log.back().msg;
    EXPECT_FALSE(replica.has_pg_version());
    expect_no_leftovers(replica, "after the timeout");
  }
  EXPECT_GE(dns.upstream().queries(), 2);
}

// (c) SERVFAIL, then silence, then NXDOMAIN, then the record: init waits through all of it,
// saying why each time, and clones.
TEST_F(InitDnsFaults, FailuresThenRecordAppearsClones) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary_with_rows(primary));
  FaultyDns& dns = faulty(Mode::kServfail);
  Pod& replica = pod(1);
  auto run = replica.start_init(via_faulty({{"REPLAGENT_INIT_WAIT_TIMEOUT", "60s"}}));

  for (Mode next : {Mode::kSilent, Mode::kNxdomain}) {
    const int before = dns.upstream().queries();
    ASSERT_TRUE(wait_until([&] { return dns.upstream().queries() >= before + 2; }, 20s))
        << "init stopped asking (" << to_string(dns.upstream().mode()) << ")";
    ASSERT_TRUE(run->process().running())
        << "init gave up during " << to_string(dns.upstream().mode()) << ": "
        << describe(run->wait(1s));
    dns.set_mode(next);
  }
  const int before = dns.upstream().queries();
  ASSERT_TRUE(wait_until([&] { return dns.upstream().queries() >= before + 2; }, 20s));
  ASSERT_TRUE(run->process().running()) << describe(run->wait(1s));
  dns.set_record(primary.dns_name(), primary.ip());

  InitResult r = run->wait(120s);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  std::cout << "init cloned after SERVFAIL, silence and NXDOMAIN in " << r.elapsed.count()
            << " ms\n";
  const auto log = json_log(r.err);
  const std::string waiting = "waiting for DNS " + primary.dns_name();
  EXPECT_GE(count_lines(log, {waiting, "server failure (SERVFAIL from " + dns.server()}), 1)
      << dump(log);
  EXPECT_GE(count_lines(log, {waiting, "timeout (no answer from " + dns.server()}), 1) << dump(log);
  EXPECT_GE(count_lines(log, {waiting, "not found (NXDOMAIN"}), 1) << dump(log);
  EXPECT_EQ(count_lines(log, {"resolved to " + primary.ip()}), 1) << dump(log);
  expect_no_leftovers(replica, "after the clone");
  ASSERT_NO_FATAL_FAILURE(expect_replica_serves(replica, primary, "100"));
}

// (d) The primary's record comes and goes every 200-300 ms (NXDOMAIN in between) while init
// runs on an empty, a kept and an emptied volume: each run ends (never hangs) with a clone,
// the kept data, or a clear error, and never leaves a half clone.
TEST_F(InitDnsFaults, FlappingRecordEndsInACloneOrAClearError) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary_with_rows(primary));
  Pod& replica = pod(1);
  const unsigned seed = test_seed();
  std::cout << "flapping seed " << seed << " (REPLAGENT_TEST_SEED=" << seed << " replays it)\n";
  RecordProperty("seed", std::to_string(seed));

  struct Flapper {
    Flapper(DnsServer& d, std::string n, std::string i, unsigned seed)
        : dns(d), name(std::move(n)), ip(std::move(i)), rng(seed) {}
    DnsServer& dns;
    std::string name, ip;
    std::mt19937 rng;
    std::atomic<bool> stop{false};
    std::atomic<int> toggles{0};
    std::string error;
    std::thread thread;
    void run() {
      std::uniform_int_distribution<int> pause(200, 300);
      bool present = true;
      try {
        while (!stop) {
          std::this_thread::sleep_for(std::chrono::milliseconds(pause(rng)));
          if (present)
            dns.remove_record(name);
          else
            dns.set_record(name, ip);
          present = !present;
          ++toggles;
        }
        if (!present) dns.set_record(name, ip);
      } catch (const std::exception& e) {
        error = e.what();
      }
    }
    ~Flapper() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
  } flapper(dns(), primary.dns_name(), primary.ip(), seed);
  flapper.thread = std::thread([&] { flapper.run(); });

  int clones = 0, kept = 0, errors = 0;
  const char* volumes[] = {"empty", "kept", "emptied", "kept", "emptied"};
  for (const char* volume : volumes) {
    SCOPED_TRACE(std::string("volume ") + volume);
    if (std::string(volume) == "emptied") fs::remove_all(replica.pgdata());
    // Start while the record is away, so the first lookup fails and the wait meets the flapping.
    ASSERT_TRUE(wait_until([&] { return dns().query(primary.dns_name()).rcode == 3; }, 5s, 10ms));
    InitResult r = replica.run_init({{"REPLAGENT_INIT_WAIT_TIMEOUT", "20s"}}, 120s);
    ASSERT_FALSE(r.timed_out) << "init hung under a flapping record: " << describe(r);
    // Never longer than the wait plus a clone of a small database, with a wide margin.
    EXPECT_LT(r.elapsed, 20s + 40s) << describe(r);
    expect_no_leftovers(replica, volume);
    const auto log = json_log(r.err);
    ASSERT_FALSE(log.empty());
    std::cout << "  " << volume << " volume: exit " << r.exit_code << " after " << r.elapsed.count()
              << " ms, " << count_lines(log, {"waiting for DNS " + primary.dns_name()})
              << " DNS waits: " << log.back().msg.substr(0, 100) << "\n";
    if (r.exit_code == 0) {
      count_lines(log, {"no clone"}) > 0 ? ++kept : ++clones;
      ASSERT_NO_FATAL_FAILURE(expect_replica_serves(replica, primary, "100"));
    } else {
      ++errors;
      // A clear error: the exit code of a timeout or a failed clone, naming the primary.
      EXPECT_TRUE(r.exit_code == 3 || r.exit_code == 4) << describe(r);
      EXPECT_EQ(log.back().level, "error");
      EXPECT_NE(log.back().msg.find(primary.dns_name()), std::string::npos) << log.back().msg;
      EXPECT_FALSE(replica.has_pg_version()) << "a failed clone left a data directory";
      EXPECT_THROW(replica.start_postgres(5s), std::runtime_error);
    }
  }
  flapper.stop = true;
  flapper.thread.join();
  EXPECT_TRUE(flapper.error.empty()) << flapper.error;
  std::cout << "flapping: " << flapper.toggles << " toggles; " << clones << " clones, " << kept
            << " kept, " << errors << " errors\n";
  EXPECT_GE(flapper.toggles, 4) << "the record did not flap during the runs";
  EXPECT_GE(clones, 1);
}

// The primary's peer check asks the headless Service for the pods. With SERVFAIL or no answer
// it cannot tell whether a replica still holds data, so an empty primary volume is not
// initialised blindly: it waits (bounded) and refuses (exit 5) unless allowed.
TEST_F(InitDnsFaults, PrimaryPeerLookupFailureRefusesAnEmptyVolume) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary_with_rows(primary));
  Pod& replica = pod(1);
  ASSERT_NO_FATAL_FAILURE(bring_up_replica(replica, primary));
  // Pod 0 comes back without its volume while pod 1 serves the data.
  primary.stop_postgres();
  fs::remove_all(primary.pgdata());
  const std::string service = std::string(kSetName) + ".default.svc.cluster.local";

  FaultyDns& dns = faulty(Mode::kServfail);
  for (Mode mode : {Mode::kServfail, Mode::kSilent}) {
    SCOPED_TRACE(to_string(mode));
    dns.set_mode(mode);
    InitResult r = primary.run_init(via_faulty({{"REPLAGENT_INIT_WAIT_TIMEOUT", "3s"}}), 60s);
    std::cout << "peer lookup " << to_string(mode) << ": primary init exited " << r.exit_code
              << " after " << r.elapsed.count() << " ms (wait_timeout 3 s)\n";
    EXPECT_EQ(r.exit_code, 5) << describe(r);
    EXPECT_LT(r.elapsed, 3s + 10s) << describe(r);
    const auto log = json_log(r.err);
    EXPECT_GE(count_lines(log, {"waiting for DNS " + service + " (peers)"}), 1) << dump(log);
    ASSERT_FALSE(log.empty());
    EXPECT_NE(log.back().msg.find(service), std::string::npos) << log.back().msg;
    EXPECT_NE(log.back().msg.find(mode == Mode::kServfail ? "SERVFAIL" : "no answer"),
              std::string::npos)
        << log.back().msg;
    EXPECT_NE(log.back().msg.find("init.allow_empty_primary"), std::string::npos) << log.back().msg;
    EXPECT_FALSE(primary.has_pg_version()) << "initialised an empty primary blindly";
    expect_no_leftovers(primary, "after the refusal");
  }

  // Once the Service answers, the replica holding data is found: the existing refusal.
  dns.set_record(service, replica.ip());
  InitResult found = primary.run_init(via_faulty({{"REPLAGENT_INIT_WAIT_TIMEOUT", "3s"}}), 60s);
  EXPECT_EQ(found.exit_code, 5) << describe(found);
  EXPECT_NE(found.err.find(replica.ip()), std::string::npos) << describe(found);
  EXPECT_FALSE(primary.has_pg_version());

  // allow_empty_primary skips the question entirely, even while the DNS fails.
  dns.remove_record(service);
  dns.set_mode(Mode::kServfail);
  InitResult allowed =
      primary.run_init(via_faulty({{"REPLAGENT_INIT_WAIT_TIMEOUT", "3s"},
                                   {"REPLAGENT_INIT_ALLOW_EMPTY_PRIMARY", "true"}}),
                       120s);
  EXPECT_EQ(allowed.exit_code, 0) << describe(allowed);
  EXPECT_TRUE(primary.has_pg_version());
}

// A first start of the set while the DNS fails for a moment: the primary waits for a definite
// answer (NXDOMAIN: no peers yet) and then initialises.
TEST_F(InitDnsFaults, PrimaryFirstStartWaitsOutAServfail) {
  FaultyDns& dns = faulty(Mode::kServfail);
  Pod& primary = pod(0);
  auto run = primary.start_init(via_faulty({{"REPLAGENT_INIT_WAIT_TIMEOUT", "60s"}}));
  ASSERT_TRUE(wait_until([&] { return dns.upstream().queries() >= 3; }, 20s));
  ASSERT_TRUE(run->process().running()) << describe(run->wait(1s));
  EXPECT_FALSE(primary.has_pg_version());
  dns.set_mode(Mode::kNxdomain);
  InitResult r = run->wait(120s);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const auto log = json_log(r.err);
  EXPECT_GE(count_lines(log, {"(peers)", "SERVFAIL"}), 1) << dump(log);
  EXPECT_EQ(count_lines(log, {"no peers found"}), 1) << dump(log);
  EXPECT_TRUE(primary.has_pg_version());
}

}  // namespace
}  // namespace replagent::test
