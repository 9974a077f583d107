// The poller against a scripted server: what lands in the snapshot, error counting by reason,
// reconnect backoff, and a replica's view of the primary from its own WAL receiver (the
// poller never connects to the primary).
#include <gtest/gtest.h>

#include <algorithm>

#include "fakes.hpp"
#include "probes/poller.hpp"
#include "probes/queries.hpp"
#include "probes/routes.hpp"

namespace replagent::probes {
namespace {

using namespace std::chrono_literals;
using Row = std::vector<std::optional<std::string>>;
using std::nullopt;

const Row kPrimaryStatus{"f",      "7712161188363855152",
                         "1",      "0/3000060",
                         nullopt,  nullopt,
                         nullopt,  nullopt,
                         "1000.0", nullopt,
                         nullopt,  "60000"};
// A replica whose WAL receiver streams and last heard from the primary `silence` seconds ago,
// with the default wal_receiver_timeout (60 s).
Row replica_status(const char* receive, const char* replay, const char* latest_end,
                   const char* silence = "0.25") {
  return Row{
      "t",      "7712161188363855152", "1",     nullopt, receive, replay, latest_end, "900.0",
      "1000.0", "streaming",           silence, "60000"};
}

agent::Config config_for(const std::string& pod) {
  agent::Config c;
  c.pod.name = pod;
  c.postgres.host = "127.0.0.1";
  c.postgres.port = 25432;
  c.postgres.data_dir = "/data/pgdata";
  c.postgres.replication_user = "replicator";
  c.sidecar.poll_interval = 2s;
  return c;
}

// Connections in replication mode, where the replication-protocol commands (IDENTIFY_SYSTEM)
// run: the poller has no ReplicationClient, and opens none itself.
long replication_connections(const fakes::FakePgClient& client) {
  return std::count_if(client.connect_calls.begin(), client.connect_calls.end(),
                       [](const agent::ConnParams& p) { return p.replication; });
}

struct Fixture {
  // A server that answers the poller's three queries (an empty status row, no replicas, no
  // slots until a test scripts them) and refuses any other statement.
  explicit Fixture(const std::string& pod)
      : config(config_for(pod)), targets(poller_targets(config)) {
    client.server.answer(kLocalStatusSql, {Row{}})
        .answer(kReplicationSql, {})
        .answer(kSlotsSql, {});
    client.server.unscripted = agent::PgError{"42601", "unexpected statement"};
  }
  Poller make() {
    PollerDeps deps{.pg = client,
                    .clock = clock,
                    .filesystem = [this](const std::string& path,
                                         std::string* why) -> std::optional<FilesystemStats> {
                      statvfs_paths.push_back(path);
                      if (statvfs_fails) {
                        *why = "statvfs failed";
                        return nullopt;
                      }
                      return FilesystemStats{1000, 400};
                    },
                    .on_poll = nullptr,
                    .janitor = nullptr,
                    .stop = {}};
    return Poller(config, targets, std::move(deps), store);
  }
  agent::Config config;
  PollerTargets targets;
  fakes::FakePgClient client;
  fakes::FakeClock clock;
  SnapshotStore store;
  std::vector<std::string> statvfs_paths;
  bool statvfs_fails = false;
};

TEST(SidecarPoller, Targets) {
  const auto t = poller_targets(config_for("todo-db-1"));
  EXPECT_EQ(t.local.hostaddr, "127.0.0.1");
  EXPECT_EQ(t.local.port, 25432);
  EXPECT_EQ(t.local.user, "replagent_monitor") << "the monitoring role, never the superuser";
  EXPECT_EQ(t.local.options, "-c statement_timeout=1000");
  EXPECT_FALSE(t.local.replication);
  auto sock = config_for("db-0");
  sock.postgres.host = "/var/run/postgresql";
  EXPECT_EQ(poller_targets(sock).local.host, "/var/run/postgresql");
  EXPECT_TRUE(poller_targets(sock).local.hostaddr.empty());
}

TEST(SidecarPoller, Primary) {
  Fixture f("db-0");
  f.client.server.answer(kLocalStatusSql, {kPrimaryStatus});
  f.client.server.answer(kReplicationSql,
                         {{"db-1", "streaming", "0", "0", "0", "16", nullopt, nullopt, "0.5"}});
  f.client.server.answer(kSlotsSql, {{"db_1", "t", "4096"}});
  Poller poller = f.make();
  const Snapshot s = poller.poll_once();
  EXPECT_EQ(s.sequence, 1u);
  EXPECT_TRUE(s.server_up) << s.server_error;
  EXPECT_EQ(s.role, Role::kPrimary);
  EXPECT_EQ(s.system_identifier, 7712161188363855152ULL);
  EXPECT_EQ(s.current_lsn, std::optional<std::uint64_t>(0x3000060));
  ASSERT_EQ(s.replicas.size(), 1u);
  EXPECT_EQ(s.replicas[0].replay_lag_bytes, std::optional<std::uint64_t>(16));
  ASSERT_EQ(s.slots.size(), 1u);
  EXPECT_EQ(s.filesystem->avail_bytes, 400u);
  EXPECT_EQ(f.statvfs_paths, std::vector<std::string>{"/data/pgdata"});
  EXPECT_EQ(replication_connections(f.client), 0);  // a primary has no primary to ask
  EXPECT_TRUE(s.error_counts.empty());
  // The session is kept: the second poll does not connect again.
  EXPECT_EQ(poller.poll_once().sequence, 2u);
  EXPECT_EQ(f.client.connect_calls.size(), 1u);
}

TEST(SidecarPoller, ConnectFailureBacksOff) {
  Fixture f("db-0");
  f.client.server.connect_error = agent::PgError{"", "Connection refused"};
  Poller poller = f.make();
  Snapshot s = poller.poll_once();
  EXPECT_FALSE(s.server_up);
  EXPECT_NE(s.server_error.find("Connection refused"), std::string::npos);
  EXPECT_EQ(s.error_counts.at("connect"), 1u);
  // Within the backoff: no new attempt, the last error repeated.
  s = poller.poll_once();
  EXPECT_EQ(f.client.connect_calls.size(), 1u);
  EXPECT_NE(s.server_error.find("(retrying)"), std::string::npos);
  // After it: a new attempt, which now succeeds.
  f.clock.advance(600ms);
  f.client.server.connect_error.reset();
  f.client.server.answer(kLocalStatusSql, {kPrimaryStatus});
  s = poller.poll_once();
  EXPECT_EQ(f.client.connect_calls.size(), 2u);
  EXPECT_TRUE(s.server_up);
  EXPECT_EQ(s.error_counts.at("connect"), 1u);  // cumulative
}

TEST(SidecarPoller, QueryFailureReconnects) {
  Fixture f("db-0");
  f.client.server.fail(kLocalStatusSql,
                       agent::PgError{"", "server closed the connection unexpectedly"});
  Poller poller = f.make();
  Snapshot s = poller.poll_once();
  EXPECT_FALSE(s.server_up);
  EXPECT_EQ(s.error_counts.at("query"), 1u);
  f.client.server.answer(kLocalStatusSql, {kPrimaryStatus});  // the error is over
  s = poller.poll_once();
  EXPECT_TRUE(s.server_up);
  EXPECT_EQ(f.client.connect_calls.size(), 2u);
}

// The lag comes from the WAL receiver's view of the primary: no connection to the primary,
// no name to resolve, the local session only.
TEST(SidecarPoller, ReplicaMeasuresAgainstItsWalReceiver) {
  Fixture f("db-1");
  f.client.server.answer(kLocalStatusSql, {replica_status("0/4000000", "0/4000000", "0/5000000")});
  Poller poller = f.make();
  Snapshot s = poller.poll_once();
  ASSERT_TRUE(s.server_up) << s.server_error;
  EXPECT_EQ(s.role, Role::kReplica);
  EXPECT_EQ(s.latest_end_lsn, std::optional<std::uint64_t>(0x5000000));
  EXPECT_EQ(s.primary_lsn, std::optional<std::uint64_t>(0x5000000));
  EXPECT_EQ(s.primary_silence_seconds, std::optional<double>(0.25));
  EXPECT_TRUE(s.primary_error.empty()) << s.primary_error;
  EXPECT_EQ(replica_lag_bytes(s, "replay"), std::optional<std::uint64_t>(0x1000000));
  // Behind the primary: the delay is counted from the last replayed transaction.
  EXPECT_EQ(s.replay_delay_seconds, std::optional<double>(100.0));
  for (int i = 0; i < 5; ++i) s = poller.poll_once();
  EXPECT_EQ(replication_connections(f.client), 0);
  ASSERT_EQ(f.client.connect_calls.size(), 1u) << "one local session, kept";
  EXPECT_EQ(f.client.connect_calls[0].hostaddr, "127.0.0.1");
  EXPECT_FALSE(f.client.connect_calls[0].replication);
  EXPECT_TRUE(s.error_counts.empty());
}

// The snapshot carries when the WAL receiver last heard from the primary (for
// sidecar.disconnected_grace): kept while the receiver is down, cleared on promotion.
TEST(SidecarPoller, RemembersWhenTheReplicaLastHeardThePrimary) {
  Fixture f("db-1");
  f.client.server.answer(kLocalStatusSql,
                         {replica_status("0/4000000", "0/4000000", "0/4000000", "1.5")});
  Poller poller = f.make();
  EXPECT_FALSE(Snapshot().last_streaming_at.has_value());
  const Snapshot streaming = poller.poll_once();
  ASSERT_TRUE(streaming.last_streaming_at.has_value());
  EXPECT_EQ(*streaming.last_streaming_at, streaming.taken_at - 1500ms)
      << "the last message, not the poll";

  f.clock.advance(30s);
  Row stopped = replica_status("0/4000000", "0/4000000", "0/4000000");
  stopped[6] = nullopt;  // no WAL receiver (the primary went away): no latest end, no status
  stopped[9] = nullopt;
  stopped[10] = nullopt;
  f.client.server.answer(kLocalStatusSql, {stopped});
  const Snapshot away = poller.poll_once();
  EXPECT_EQ(away.wal_receiver_status, "");
  EXPECT_FALSE(away.primary_lsn);
  EXPECT_EQ(away.primary_error, "WAL receiver not running");
  ASSERT_TRUE(away.last_streaming_at.has_value());
  EXPECT_EQ(*away.last_streaming_at, *streaming.last_streaming_at) << "kept while not streaming";

  f.client.server.answer(kLocalStatusSql, {kPrimaryStatus});  // promoted
  EXPECT_FALSE(poller.poll_once().last_streaming_at.has_value());
}

// Silence past wal_receiver_timeout/2 + slack on a receiver that still says "streaming": the
// connection is dead but not yet noticed, the primary may be writing what the replica never
// sees. The lag is unknown, and the grace counts from the last message.
TEST(SidecarPoller, SilentWalReceiverMakesTheLagUnknown) {
  Fixture f("db-1");
  f.client.server.answer(kLocalStatusSql,
                         {replica_status("0/4000000", "0/4000000", "0/4000000", "20.0")});
  Poller poller = f.make();
  const Snapshot idle = poller.poll_once();
  // 20 s of silence is an idle primary (the receiver pings only after 30 s): still current.
  EXPECT_EQ(idle.primary_lsn, std::optional<std::uint64_t>(0x4000000));
  EXPECT_EQ(idle.replay_delay_seconds, std::optional<double>(0.0));
  const auto heard = *idle.last_streaming_at;

  f.clock.advance(13s);
  f.client.server.answer(kLocalStatusSql,
                         {replica_status("0/4000000", "0/4000000", "0/4000000", "33.0")});
  const Snapshot silent = poller.poll_once();
  EXPECT_EQ(silent.wal_receiver_status, "streaming");
  EXPECT_FALSE(silent.primary_lsn);
  EXPECT_NE(silent.primary_error.find("nothing heard from the primary for 33.0s"),
            std::string::npos)
      << silent.primary_error;
  EXPECT_FALSE(replica_lag_bytes(silent, "replay"));
  EXPECT_FALSE(silent.replay_delay_seconds) << "replayed all it received; the rest is unknown";
  EXPECT_EQ(silent.last_streaming_at, std::optional(heard));
  EXPECT_TRUE(silent.error_counts.empty()) << "the primary's silence is not a poll error";
}

TEST(SidecarPoller, StatvfsFailureIsCounted) {
  Fixture f("db-0");
  f.client.server.answer(kLocalStatusSql, {kPrimaryStatus});
  f.statvfs_fails = true;
  Poller poller = f.make();
  const Snapshot s = poller.poll_once();
  EXPECT_TRUE(s.server_up);
  EXPECT_FALSE(s.filesystem);
  EXPECT_EQ(s.error_counts.at("statvfs"), 1u);
}

// --- a server that stops answering (SIGSTOP): ConnParams::io_timeout ran out ---

agent::PgError no_answer(const char* doing) {
  return agent::PgError{
      "", std::string("no answer within 1.25s ") + doing + " (server stopped or overloaded?)",
      true};
}

TEST(SidecarPoller, IoDeadlineFitsThePollAndTheStaleLimit) {
  // Default 2 s interval: statement_timeout 1 s server side, 1.25 s client side.
  const auto t = poller_targets(config_for("todo-db-1"));
  EXPECT_EQ(t.local.io_timeout, 1250ms);
  for (const std::chrono::milliseconds interval :
       std::initializer_list<std::chrono::milliseconds>{500ms, 1s, 2s, 5s, 10s, 60s}) {
    const auto d = io_deadline(interval);
    auto c = config_for("todo-db-1");
    c.sidecar.poll_interval = interval;
    const auto targets = poller_targets(c);
    // The server's own statement_timeout ends a slow query first, with a proper error.
    const auto opt = targets.local.options;
    const long server_ms = std::stol(opt.substr(opt.find('=') + 1));
    EXPECT_GT(d.count(), server_ms) << interval.count();
    // A poll waits at most twice (connect, query) and still publishes before the snapshot
    // would count as stale: a frozen server reads "no answer", not "stale".
    EXPECT_LE(2 * d, kStaleIntervals * interval) << interval.count();
    // Far from the liveness limit: a frozen server never fails /healthz.
    EXPECT_LT(2 * d, std::chrono::milliseconds(kWedgedPoll)) << interval.count();
  }
}

TEST(SidecarPoller, StatusQueryTimeoutIsNotReadyButLive) {
  Fixture f("db-0");
  f.client.server.fail(kLocalStatusSql, no_answer("to a statement"));
  Poller poller = f.make();
  const auto s = std::make_shared<const Snapshot>(poller.poll_once());
  EXPECT_FALSE(s->server_up);
  EXPECT_NE(s->server_error.find("no answer within 1.25s"), std::string::npos) << s->server_error;
  EXPECT_EQ(s->error_counts.at("timeout"), 1u);
  EXPECT_EQ(s->error_counts.count("query"), 0u);

  RouteParams p;
  p.poll_interval = f.config.sidecar.poll_interval;
  const Decision ready = decide_readyz(s.get(), s->taken_at, p, p.max_lag);
  EXPECT_EQ(ready.status, 503);
  // The body names the category only (an unauthenticated client sees no server text).
  EXPECT_NE(ready.reason.find("postgres is not accepting connections: timeout"), std::string::npos)
      << ready.reason;
  const Decision live = decide_healthz(s.get(), s->taken_at, p, poller.health());
  EXPECT_EQ(live.status, 200) << live.reason;

  // The timed-out session was dropped: the next poll connects again, and the server is back.
  f.client.server.answer(kLocalStatusSql, {kPrimaryStatus});  // the error is over
  const Snapshot next = poller.poll_once();
  EXPECT_TRUE(next.server_up) << next.server_error;
  EXPECT_EQ(f.client.connect_calls.size(), 2u);
  EXPECT_EQ(next.error_counts.at("timeout"), 1u);
}

TEST(SidecarPoller, ConnectTimeoutCountsAsTimeoutAndBacksOff) {
  Fixture f("db-0");
  f.client.server.connect_error = no_answer("while connecting");
  Poller poller = f.make();
  Snapshot s = poller.poll_once();
  EXPECT_FALSE(s.server_up);
  EXPECT_NE(s.server_error.find("cannot connect to"), std::string::npos) << s.server_error;
  EXPECT_NE(s.server_error.find("no answer within"), std::string::npos) << s.server_error;
  EXPECT_EQ(s.error_counts.at("timeout"), 1u);
  EXPECT_EQ(s.error_counts.count("connect"), 0u);
  // Backing off like any failed connect: polls go on (fresh snapshots), no new attempt yet.
  s = poller.poll_once();
  EXPECT_EQ(f.client.connect_calls.size(), 1u);
  EXPECT_NE(s.server_error.find("(retrying)"), std::string::npos);
  EXPECT_EQ(s.sequence, 2u);
  // After the backoff the server answers again.
  f.clock.advance(600ms);
  f.client.server.connect_error.reset();
  f.client.server.answer(kLocalStatusSql, {kPrimaryStatus});
  s = poller.poll_once();
  EXPECT_TRUE(s.server_up) << s.server_error;
}

TEST(SidecarPoller, PrimaryQueryTimeoutKeepsTheStatusAndReconnects) {
  Fixture f("db-0");
  f.client.server.answer(kLocalStatusSql, {kPrimaryStatus});
  f.client.server.fail(kReplicationSql, no_answer("to a statement"));
  f.client.server.answer(kSlotsSql, {{"db_1", "t", "4096"}});
  Poller poller = f.make();
  const Snapshot s = poller.poll_once();
  // The status query answered: the server is up, its replica rows are missing this once.
  EXPECT_TRUE(s.server_up);
  EXPECT_TRUE(s.replicas.empty());
  EXPECT_EQ(s.error_counts.at("timeout"), 1u);
  // The session was closed on the timeout, so the slots query was not sent on it.
  EXPECT_TRUE(s.slots.empty());
  f.client.server.answer(kReplicationSql, {});  // the error is over
  const Snapshot next = poller.poll_once();
  EXPECT_EQ(f.client.connect_calls.size(), 2u);
  EXPECT_EQ(next.slots.size(), 1u);
}

}  // namespace
}  // namespace replagent::probes
