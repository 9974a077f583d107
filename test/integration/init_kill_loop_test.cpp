// Issue #6, fault matrix row 8: `replagent init` on a replica is stopped at random points, by
// the kubelet (SIGTERM to the agent) or by the container's death (SIGKILL to every process of
// the container at once), over and over. After each kill the volume holds either nothing
// PostgreSQL would start from, or a complete replica that streams the primary's rows; the next
// init always ends with valid data. Kills come after a uniform random delay over a run's
// measured duration, or a random few milliseconds after the log line that opens one of the
// short steps (DNS wait, ping + slot, pg_basebackup start, verify, swap), which a uniform delay
// would rarely hit. The PRNG's seed is printed; REPLAGENT_TEST_SEED=<seed> replays a run,
// REPLAGENT_TEST_KILL_RUNS=<n> changes the number of runs (default 40).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "test/support/cluster.hpp"

namespace replagent::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;

unsigned test_seed() {
  if (const char* s = std::getenv("REPLAGENT_TEST_SEED"); s && *s) {
    return static_cast<unsigned>(std::strtoul(s, nullptr, 10));
  }
  return static_cast<unsigned>(std::chrono::system_clock::now().time_since_epoch().count());
}

int env_int(const char* name, int fallback) {
  const char* s = std::getenv(name);
  return s && *s ? std::atoi(s) : fallback;
}

// The "msg" of each --log-format json line.
std::vector<std::string> log_messages(const std::string& err) {
  std::vector<std::string> out;
  std::istringstream in(err);
  const std::string tag = "\"msg\":\"";
  for (std::string line; std::getline(in, line);) {
    auto pos = line.find(tag);
    if (pos == std::string::npos) continue;
    std::string msg;
    for (pos += tag.size(); pos < line.size() && line[pos] != '"'; ++pos) {
      if (line[pos] == '\\' && pos + 1 < line.size()) ++pos;
      msg += line[pos];
    }
    out.push_back(msg);
  }
  return out;
}

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Where init was when it was killed, from the last line it had logged.
std::string phase_of(const std::vector<std::string>& msgs, bool kept_volume) {
  for (auto it = msgs.rbegin(); it != msgs.rend(); ++it) {
    const std::string& m = *it;
    if (has(m, "init done") || has(m, "init failed")) return "exiting";
    if (has(m, "pg_verifybackup: the clone matches")) return "files+fsync+swap";
    if (has(m, "pg_basebackup done")) return "verify";
    if (has(m, "cloning ") || has(m, "clone progress")) return "clone";
    if (has(m, "replication slot") && (has(m, "created") || has(m, "reused")))
      return "passfile+spawn";
    if (has(m, "replication slot") && has(m, "holds WAL")) return "keep: refresh files";
    if (has(m, "resolved to") || has(m, "waiting for primary")) return "ping+identify+slot";
    if (has(m, "waiting for DNS")) return "dns wait";
  }
  return kept_volume ? "start/keep: ask primary" : "start";
}

enum class Kill { kTerm, kContainerDeath };
const char* to_string(Kill k) { return k == Kill::kTerm ? "SIGTERM agent" : "SIGKILL container"; }

// Every process of the container at once, as when it dies: the agent's group and the groups
// its children lead (it starts each tool in a group of its own). The agent is stopped first so
// it cannot start another child while the tree is read, as the kernel's cgroup kill freezes
// the cgroup before it kills.
void kill_container(ChildProcess& agent) {
  ::kill(-agent.pid(), SIGSTOP);
  std::set<pid_t> tree{agent.pid()};
  const auto procs = list_processes();
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& p : procs) {
      if (tree.count(p.ppid) && tree.insert(p.pid).second) grew = true;
    }
  }
  std::set<pid_t> groups{agent.pid()};
  for (const auto& p : procs) {
    if (tree.count(p.pid)) groups.insert(p.pgid);
  }
  for (pid_t g : groups) ::kill(-g, SIGKILL);
  for (pid_t p : tree) ::kill(p, SIGKILL);
}

// Entries of the volume besides PGDATA: an interrupted run's staging or run directory.
std::vector<std::string> leftovers(const Pod& p) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(p.volume())) {
    if (e.path().filename() != "pgdata") out.push_back(e.path().filename().string());
  }
  return out;
}

// A kill at a chosen point: `after` ms once the run starts, or, when `trigger` is set, `after`
// ms once init has logged a line containing it (the short steps, DNS wait to swap, last tens
// of milliseconds: a uniform delay over a whole clone would rarely hit them).
struct KillPlan {
  Kill style = Kill::kTerm;
  Ms after{0};
  std::string trigger;
};

class InitKillLoop : public ClusterTest {
 protected:
  // The scratch directory (volumes included) on tmpfs when there is one: this test is about
  // where kills land and what they leave, not about the disk, and on a shared slow disk the
  // fsyncs of 50 clones would take minutes (REPLAGENT_TEST_KILL_LOOP_ON_DISK=1 keeps $TMPDIR,
  // where the fsync step is long enough for uniform kills to hit). Restored afterwards.
  void SetUp() override {
    if (const char* t = std::getenv("TMPDIR")) saved_tmpdir_ = t;
    const char* on_disk = std::getenv("REPLAGENT_TEST_KILL_LOOP_ON_DISK");
    if (!(on_disk && *on_disk == '1') && ::access("/dev/shm", W_OK | X_OK) == 0) {
      ::setenv("TMPDIR", "/dev/shm", 1);
    }
    ClusterTest::SetUp();
  }
  void TearDown() override {
    ClusterTest::TearDown();
    if (saved_tmpdir_)
      ::setenv("TMPDIR", saved_tmpdir_->c_str(), 1);
    else
      ::unsetenv("TMPDIR");
  }

  std::string count_on(Pod& p) { return p.psql("SELECT count(*) FROM todo"); }

  // PGDATA is a complete replica: PostgreSQL starts on it, streams from the primary and shows
  // the primary's current rows.
  void expect_valid_replica(Pod& replica, Pod& primary, const std::string& when) {
    SCOPED_TRACE(when);
    ASSERT_TRUE(replica.has_pg_version());
    EXPECT_TRUE(fs::exists(replica.pgdata() / "standby.signal"));
    ASSERT_NO_THROW(replica.start_postgres(60s)) << replica.failure_report();
    const std::string expected = count_on(primary);
    EXPECT_TRUE(wait_until([&] { return streaming(primary, replica.name()); }, 30s))
        << "not streaming";
    EXPECT_TRUE(wait_until(
        [&] {
          RunResult q = replica.psql_result("SELECT count(*) FROM todo");
          return q.exit_code() == 0 && q.out == expected + "\n";
        },
        30s))
        << "the replica does not show the primary's " << expected << " rows";
    replica.stop_postgres();
  }

  // No data: nothing PostgreSQL would start from, and PostgreSQL indeed refuses.
  void expect_no_data(Pod& replica, const std::string& when) {
    SCOPED_TRACE(when);
    std::error_code ec;
    EXPECT_TRUE(!fs::exists(replica.pgdata()) || fs::is_empty(replica.pgdata(), ec))
        << "PGDATA holds something without PG_VERSION: " << tree_listing(replica.pgdata());
    EXPECT_THROW(replica.start_postgres(10s), std::runtime_error)
        << "PostgreSQL started on " << replica.pgdata();
    EXPECT_FALSE(replica.postgres_running());
  }

  // pg_verifybackup on a clone just renamed into place, before PostgreSQL ever ran on it. The
  // files init writes after the verification (settings, passfile, outcome) are not in the
  // manifest; pg_verifybackup ignores standby.signal and postgresql.auto.conf itself.
  void verify_fresh_clone(Pod& replica) {
    RunResult v =
        replica.pg_tool("pg_verifybackup", {"-q", "-i", "postgresql.conf", "-i", "pg_hba.conf",
                                            "-i", "replagent.conf", "-i", "replagent.pgpass", "-i",
                                            "replagent.last-init", replica.pgdata().string()});
    EXPECT_EQ(v.exit_code(), 0) << "pg_verifybackup on the swapped-in clone: " << v.out << v.err;
  }

  // Starts init, kills it as planned; returns where it was, "" when it ended first.
  std::string run_and_kill(InitRun& run, const KillPlan& plan) {
    ChildProcess& agent = run.process();
    if (!plan.trigger.empty()) {
      const bool seen = wait_until(
          [&] {
            return !agent.running() ||
                   read_file(agent.stderr_path()).find(plan.trigger) != std::string::npos;
          },
          60s, 2ms);
      if (!seen) return "trigger never logged";
    }
    if (agent.wait_for(plan.after)) return "";
    const std::string phase = phase_of(log_messages(read_file(agent.stderr_path())), false);
    if (plan.style == Kill::kTerm)
      agent.signal(SIGTERM);
    else
      kill_container(agent);
    return phase;
  }

  std::optional<std::string> saved_tmpdir_;
};

TEST_F(InitKillLoop, KilledAnywhereInitLeavesValidDataOrNone) {
  const auto test_start = std::chrono::steady_clock::now();
  const unsigned seed = test_seed();
  const int runs = std::max(1, env_int("REPLAGENT_TEST_KILL_RUNS", 40));
  std::cout << "kill loop seed " << seed << " (REPLAGENT_TEST_SEED=" << seed << " replays it), "
            << runs << " runs, scratch " << scratch().path() << "\n";
  RecordProperty("seed", std::to_string(seed));
  std::mt19937 rng(seed);

  // A small primary: a few MB of rows on top of the ~22 MB of an initdb'd cluster.
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  primary.psql(
      "CREATE TABLE todo (id serial PRIMARY KEY, item text); INSERT INTO todo (item) "
      "SELECT 'item ' || md5(g::text) FROM generate_series(1, 30000) g; CHECKPOINT");
  const double db_bytes =
      std::stod(primary.psql("SELECT sum(pg_database_size(datname)) FROM pg_database"));
  // About 1.5 s for the copy itself, whatever the cluster's exact size.
  const auto rate_kb = static_cast<long>(db_bytes / 1.5 / 1000);
  const Env slow = {{"REPLAGENT_INIT_MAX_RATE", std::to_string(rate_kb) + "kB"},
                    {"REPLAGENT_INIT_WAIT_TIMEOUT", "30s"}};
  const Env fast = {{"REPLAGENT_INIT_WAIT_TIMEOUT", "30s"}};

  // One uninterrupted run of each path, to spread the kill points over it.
  Pod& replica = pod(1);
  InitResult first = replica.run_init(slow, 120s);
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  ASSERT_NO_FATAL_FAILURE(expect_valid_replica(replica, primary, "first clone"));
  InitResult again = replica.run_init(slow, 120s);
  ASSERT_EQ(again.exit_code, 0) << describe(again);
  const Ms clone_ms = first.elapsed;
  const Ms keep_ms = std::max(again.elapsed, Ms(20));
  std::cout << "database " << static_cast<long>(db_bytes / 1e6) << " MB, max_rate " << rate_kb
            << " kB/s: clone run " << clone_ms.count() << " ms, kept-volume run " << keep_ms.count()
            << " ms\n";

  // The targeted kills: the log line that opens each short step (DNS wait, ping + identify +
  // slot, passfile + pg_basebackup start, verify, settings + fsync + swap).
  const std::vector<std::string> triggers = {
      "waiting for DNS", "resolved to", "replication slot todo_db_1 on the primary",
      "pg_basebackup done", "pg_verifybackup: the clone matches"};
  std::map<std::string, int> phases;
  int killed = 0, finished_first = 0, left_valid = 0, left_nothing = 0, left_staging = 0;
  for (int i = 0, kept_runs = 0, uniform_runs = 0, targeted_runs = 0; i < runs; ++i) {
    // Kept (the valid replica of the last run) or emptied volume, alternately. Kept volumes and
    // half the emptied ones get a kill after a uniform random delay over the run's duration;
    // the other emptied ones one at a random point of a short step, in turn.
    KillPlan plan;
    const bool keep = i % 2 == 0;
    const bool targeted = !keep && (i / 2) % 2 == 1;
    bool late_dns = false;
    Ms expected = keep ? keep_ms : clone_ms;
    if (keep) {
      plan.style = kept_runs++ % 2 == 0 ? Kill::kTerm : Kill::kContainerDeath;
    } else if (!targeted) {
      plan.style = uniform_runs++ % 2 == 0 ? Kill::kTerm : Kill::kContainerDeath;
    } else {
      // Each step in turn, first with SIGTERM, then (next round) with SIGKILL.
      const auto t = static_cast<std::size_t>(targeted_runs++);
      plan.style = (t / triggers.size()) % 2 == 0 ? Kill::kTerm : Kill::kContainerDeath;
      plan.trigger = triggers[t % triggers.size()];
      late_dns = t % triggers.size() == 0;
    }
    std::string volume = "kept";
    if (!keep) {
      fs::remove_all(replica.pgdata());
      volume = "missing";
      if ((i / 2) % 3 == 0) {
        fs::create_directory(replica.pgdata());
        fs::permissions(replica.pgdata(), fs::perms::owner_all);
        volume = "empty";
      }
    }
    const auto inode_before = inode_of(replica.pgdata());
    Ms late{0};
    if (late_dns) {
      primary.unpublish_dns();
      late = 1s;
    }
    plan.after = plan.trigger.empty()
                     ? Ms(std::uniform_int_distribution<long>(0, expected.count() * 6 / 5)(rng))
                     : Ms(std::uniform_int_distribution<long>(0, 5)(rng));
    const std::string what =
        "run " + std::to_string(i) + " (" + volume + " volume, " + to_string(plan.style) +
        (plan.trigger.empty()
             ? " after "
             : " " + std::to_string(plan.after.count()) + " ms after \"" + plan.trigger + "\"") +
        (plan.trigger.empty() ? std::to_string(plan.after.count()) + " ms" : "") + ")";
    SCOPED_TRACE(what);

    auto run = replica.start_init(slow);
    std::thread publisher;
    struct Join {
      std::thread& t;
      ~Join() {
        if (t.joinable()) t.join();
      }
    } join{publisher};
    if (late_dns) {
      publisher = std::thread([&] {
        std::this_thread::sleep_for(late);
        primary.publish_dns();
      });
    }

    std::string phase = run_and_kill(*run, plan);
    if (phase.empty()) {
      phase = "after exit (no kill)";
      ++finished_first;
    } else {
      ++killed;
    }
    if (keep && phase == "start") phase = "start/keep: ask primary";
    ++phases[phase];
    // The kubelet waits 30 s after SIGTERM; the agent must be done well before.
    InitResult r = run->wait(20s);
    ASSERT_FALSE(r.timed_out) << "init did not end after " << to_string(plan.style) << ": "
                              << describe(r);
    if (publisher.joinable()) publisher.join();
    // Nothing of the init survives it (after SIGTERM the agent itself must see to that). A
    // child killed with the container may take a moment to die and be reaped.
    EXPECT_TRUE(wait_until([&] { return !run->process().group_alive(); }, 10s))
        << describe(processes_in_group(run->pid()));
    EXPECT_TRUE(wait_until([&] { return processes_mentioning(replica.volume().string()).empty(); },
                           plan.style == Kill::kTerm ? 1s : 10s))
        << describe(processes_mentioning(replica.volume().string()));
    const auto left = leftovers(replica);
    if (plan.style == Kill::kTerm) {
      EXPECT_TRUE(left.empty()) << "SIGTERM left " << ::testing::PrintToString(left);
    }
    left_staging += left.empty() ? 0 : 1;

    // What the kill left: a complete clone (checked against its manifest when it is new) or
    // nothing PostgreSQL starts from.
    std::string state;
    const auto inode_after_kill = inode_of(replica.pgdata());
    const bool valid_after_kill = replica.has_pg_version();
    if (valid_after_kill) {
      ++left_valid;
      const bool fresh = inode_after_kill != inode_before;
      state = fresh ? "fresh clone" : "kept data";
      EXPECT_TRUE(fs::exists(replica.pgdata() / "standby.signal"));
      if (fresh) verify_fresh_clone(replica);
    } else {
      ++left_nothing;
      state = "no data";
      ASSERT_NO_FATAL_FAILURE(expect_no_data(replica, what + ", after the kill"));
    }
    std::cout << "  " << what << ": " << phase << " -> exit " << r.exit_code << ", " << state
              << (left.empty() ? "" : ", left " + ::testing::PrintToString(left)) << "\n";

    // The next init ends with valid data, whatever the kill left; valid data is kept as it is
    // (same directory), so PostgreSQL streaming from it below checks what the kill left too.
    InitResult next = replica.run_init(fast, 120s);
    ASSERT_EQ(next.exit_code, 0) << "init after " << what << ": " << describe(next);
    if (valid_after_kill) {
      EXPECT_EQ(inode_of(replica.pgdata()), inode_after_kill)
          << "the data the kill left was replaced: " << describe(next);
    }
    EXPECT_TRUE(leftovers(replica).empty()) << ::testing::PrintToString(leftovers(replica));
    ASSERT_NO_FATAL_FAILURE(expect_valid_replica(replica, primary, what + ", next init"));
    // New WAL for the next check to replay.
    primary.psql("INSERT INTO todo (item) VALUES ('after run " + std::to_string(i) + "')");
  }

  const auto total = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - test_start);
  std::cout << "kill loop: " << runs << " runs, " << killed << " killed, " << finished_first
            << " ended before the kill; afterwards " << left_valid << " valid replica, "
            << left_nothing << " no data, " << left_staging << " with leftovers; " << total.count()
            << " s\n  kill points:";
  for (const auto& [phase, n] : phases) std::cout << " " << phase << "=" << n << ";";
  std::cout << "\n";
  RecordProperty("kills", std::to_string(killed));
  EXPECT_GE(killed, runs / 2) << "most runs should be killed mid-way";
}

}  // namespace
}  // namespace replagent::test
