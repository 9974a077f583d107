// Lag arithmetic on LSNs and the parsers of the poller's query results.
#include <gtest/gtest.h>

#include "probes/queries.hpp"
#include "probes/snapshot.hpp"

namespace replagent::probes {
namespace {

using std::nullopt;
using U = std::optional<std::uint64_t>;
using D = std::optional<double>;

TEST(SidecarLag, LsnDistanceNeverNegative) {
  EXPECT_EQ(lsn_distance(0x5000000, 0x4000000), 0x1000000u);
  EXPECT_EQ(lsn_distance(0x4000000, 0x5000000), 0u);
  EXPECT_EQ(lsn_distance(7, 7), 0u);
  EXPECT_EQ(lsn_distance(0xFFFFFFFFFFFFFFFFULL, 0), 0xFFFFFFFFFFFFFFFFULL);
}

struct LagCase {
  const char* name;
  U primary_lsn, latest_end_lsn, receive_lsn, replay_lsn;
  U receive_lag, replay_lag;
};

TEST(SidecarLag, ReplicaLagBytes) {
  const LagCase cases[] = {
      {"caught_up", 100, 100, 100, 100, 0, 0},
      {"behind_primary", 1000, 900, 800, 700, 200, 300},
      {"walreceiver_newer_than_identify", 900, 1000, 1000, 950, 0, 50},
      {"primary_unreachable_uses_walreceiver", nullopt, 1000, 1000, 400, 0, 600},
      {"no_walreceiver_uses_primary", 1000, nullopt, nullopt, 400, 600, 600},
      {"nothing_known", nullopt, nullopt, 100, 100, nullopt, nullopt},
      // A restarted WAL receiver reports a receive position at a segment start, behind replay.
      {"receive_behind_replay", 1000, nullopt, 0, 900, 100, 100},
      {"no_replay_yet", 1000, nullopt, 500, nullopt, 500, nullopt},
  };
  for (const auto& c : cases) {
    Snapshot s;
    s.primary_lsn = c.primary_lsn;
    s.latest_end_lsn = c.latest_end_lsn;
    s.receive_lsn = c.receive_lsn;
    s.replay_lsn = c.replay_lsn;
    EXPECT_EQ(replica_lag_bytes(s, "receive"), c.receive_lag) << c.name;
    EXPECT_EQ(replica_lag_bytes(s, "replay"), c.replay_lag) << c.name;
  }
}

struct DelayCase {
  const char* name;
  U receive, replay, primary;
  D last_replay;
  double now;
  D expected;
};

TEST(SidecarLag, ReplayDelayIsZeroWhenCaughtUp) {
  const DelayCase cases[] = {
      // The idle-primary case: the last transaction is an hour old, but nothing is missing.
      {"idle_primary", 500, 500, 500, 1000.0, 4600.0, 0.0},
      {"idle_no_primary_view", 500, 500, nullopt, 1000.0, 4600.0, 0.0},
      {"behind_primary", 500, 400, 600, 1000.0, 1002.5, 2.5},
      {"received_not_replayed", 500, 400, nullopt, 1000.0, 1003.0, 3.0},
      // The WAL receiver says caught up, the primary knows better.
      {"primary_ahead_of_receiver", 500, 500, 900, 1000.0, 1010.0, 10.0},
      {"clock_skew_clamped", 500, 400, 600, 1000.0, 999.0, 0.0},
      {"never_replayed_a_transaction", 500, 400, 600, nullopt, 1000.0, nullopt},
      {"no_positions", nullopt, nullopt, nullopt, 1000.0, 1004.0, 4.0},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(replay_delay_seconds(c.receive, c.replay, c.primary, c.last_replay, c.now),
              c.expected)
        << c.name;
  }
}

TEST(SidecarLag, LagSecondsNullMeansZeroOnlyWhenCaughtUp) {
  EXPECT_EQ(lag_seconds_or_zero(1.5, 100), D(1.5));
  EXPECT_EQ(lag_seconds_or_zero(nullopt, 0), D(0.0));
  EXPECT_EQ(lag_seconds_or_zero(nullopt, 100), nullopt);
  EXPECT_EQ(lag_seconds_or_zero(nullopt, nullopt), nullopt);
  EXPECT_EQ(lag_seconds_or_zero(-0.001, 0), D(0.0));
}

agent::QueryResult one_row(std::vector<std::optional<std::string>> row) {
  agent::QueryResult r;
  r.rows.push_back(std::move(row));
  return r;
}

TEST(SidecarQueries, LocalStatusOfAPrimary) {
  std::string why;
  const auto s = parse_local_status(one_row({"f", "7712161188363855152", "3", "0/3000060", nullopt,
                                             nullopt, nullopt, nullopt, "1764091474.25", nullopt}),
                                    &why);
  ASSERT_TRUE(s) << why;
  EXPECT_FALSE(s->in_recovery);
  EXPECT_EQ(s->system_identifier, 7712161188363855152ULL);
  EXPECT_EQ(s->timeline, 3);
  EXPECT_EQ(s->current_lsn, U(0x3000060));
  EXPECT_EQ(s->receive_lsn, nullopt);
  EXPECT_EQ(s->last_replay_epoch, nullopt);
  EXPECT_DOUBLE_EQ(s->now_epoch, 1764091474.25);
  EXPECT_EQ(s->wal_receiver_status, "");
}

TEST(SidecarQueries, LocalStatusOfAReplica) {
  std::string why;
  const auto s =
      parse_local_status(one_row({"t", "42", "1", nullopt, "16/B374D848", "16/B374D000",
                                  "16/B374D848", "1764091470.5", "1764091474.25", "streaming"}),
                         &why);
  ASSERT_TRUE(s) << why;
  EXPECT_TRUE(s->in_recovery);
  EXPECT_EQ(s->receive_lsn, U(0x16B374D848ULL));
  EXPECT_EQ(s->replay_lsn, U(0x16B374D000ULL));
  EXPECT_EQ(s->latest_end_lsn, U(0x16B374D848ULL));
  EXPECT_EQ(s->last_replay_epoch, D(1764091470.5));
  EXPECT_EQ(s->wal_receiver_status, "streaming");
}

TEST(SidecarQueries, LocalStatusRejectsOtherShapes) {
  std::string why;
  EXPECT_FALSE(parse_local_status(agent::QueryResult{}, &why));
  EXPECT_FALSE(parse_local_status(one_row({"t", "42"}), &why));
  EXPECT_FALSE(parse_local_status(
      one_row({"t", nullopt, "1", nullopt, nullopt, nullopt, nullopt, nullopt, "1", nullopt}),
      &why));
  EXPECT_NE(why.find("system identifier"), std::string::npos);
}

TEST(SidecarQueries, Replication) {
  agent::QueryResult r;
  r.rows = {
      {"db-1", "streaming", "0", "0", "16", "-8", nullopt, nullopt, "0.25"},
      {"db-1", "startup", nullopt, nullopt, nullopt, nullopt, nullopt, nullopt, nullopt},
      {"db-2", "catchup", "1000", "2000", "3000", "4000", "0.1", "0.2", "0.3"},
      {nullopt, "streaming", "0", "0", "0", "0", nullopt, nullopt, nullopt},
  };
  const auto rows = parse_replication(r);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].application_name, "db-1");
  EXPECT_EQ(rows[0].state, "streaming");
  EXPECT_EQ(rows[0].flush_lag_bytes, U(16));
  EXPECT_EQ(rows[0].replay_lag_bytes, U(0));  // negative clamped
  EXPECT_EQ(rows[0].write_lag_seconds, nullopt);
  EXPECT_EQ(rows[0].replay_lag_seconds, D(0.25));
  EXPECT_EQ(rows[1].application_name, "db-2");
  EXPECT_EQ(rows[1].replay_lag_bytes, U(4000));
  EXPECT_EQ(rows[1].flush_lag_seconds, D(0.2));
}

TEST(SidecarQueries, Slots) {
  agent::QueryResult r;
  r.rows = {{"db_1", "t", "4096"}, {"db_2", "f", nullopt}, {"bad"}};
  const auto slots = parse_slots(r);
  ASSERT_EQ(slots.size(), 2u);
  EXPECT_EQ(slots[0].name, "db_1");
  EXPECT_TRUE(slots[0].active);
  EXPECT_EQ(slots[0].retained_bytes, U(4096));
  EXPECT_FALSE(slots[1].active);
  EXPECT_EQ(slots[1].retained_bytes, nullopt);
}

TEST(SidecarQueries, Numbers) {
  EXPECT_EQ(parse_byte_count(std::string("123")), U(123));
  EXPECT_EQ(parse_byte_count(std::string("-5")), U(0));
  EXPECT_EQ(parse_byte_count(std::string("12x")), nullopt);
  EXPECT_EQ(parse_byte_count(std::string("")), nullopt);
  EXPECT_EQ(parse_byte_count(nullopt), nullopt);
  EXPECT_EQ(parse_double(std::string("0.5")), D(0.5));
  EXPECT_EQ(parse_double(std::string("x")), nullopt);
}

}  // namespace
}  // namespace replagent::probes
