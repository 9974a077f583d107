// Lag arithmetic on LSNs and the parsers of the poller's query results.
#include <gtest/gtest.h>

#include <chrono>

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

// primary_lsn is the position primary_view() judged current; the raw latest_end_lsn alone is
// never a yardstick (it may be a silent connection's last word).
struct LagCase {
  const char* name;
  U primary_lsn, latest_end_lsn, receive_lsn, replay_lsn;
  U receive_lag, replay_lag;
};

TEST(SidecarLag, ReplicaLagBytes) {
  const LagCase cases[] = {
      {"caught_up", 100, 100, 100, 100, 0, 0},
      {"behind_primary", 1000, 1000, 800, 700, 200, 300},
      {"received_ahead_of_reported_end", 900, 900, 1000, 950, 0, 0},
      {"latest_end_alone_is_not_a_position", nullopt, 1000, 1000, 400, nullopt, nullopt},
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
      // Replayed all it received, the primary's end unknown: caught up or cut off.
      {"idle_no_primary_view", 500, 500, nullopt, 1000.0, 4600.0, nullopt},
      {"behind_primary", 500, 400, 600, 1000.0, 1002.5, 2.5},
      {"received_not_replayed", 500, 400, nullopt, 1000.0, 1003.0, 3.0},
      // Received all it has, the primary reported more.
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

// How current the WAL receiver's latest_end_lsn is (snapshot.hpp: an idle primary sends nothing;
// a live sender answers the receiver's ping at wal_receiver_timeout/2; longer silence is a dead
// connection not yet noticed).
struct ViewCase {
  const char* name;
  const char* status;
  U latest_end;
  D silence;
  std::optional<std::chrono::milliseconds> timeout;
  U lsn;                // expected position
  const char* unknown;  // part of the expected reason ("" when known)
};

TEST(SidecarLag, PrimaryViewIsCurrentOnlyWhileHeardFrom) {
  using std::chrono::milliseconds;
  const milliseconds kDefault{60000};
  const ViewCase cases[] = {
      {"streaming_just_heard", "streaming", 100, 0.1, kDefault, 100, ""},
      {"idle_primary_before_the_ping", "streaming", 100, 29.9, kDefault, 100, ""},
      {"ping_answer_within_slack", "streaming", 100, 32.0, kDefault, 100, ""},
      {"silent_past_ping_and_slack", "streaming", 100, 32.1, kDefault, nullopt,
       "nothing heard from the primary for 32.1s"},
      {"short_timeout", "streaming", 100, 4.5, milliseconds(4000), nullopt, "WAL receiver silent"},
      // wal_receiver_timeout = 0: PostgreSQL never pings nor gives up; neither do we.
      {"timeout_disabled", "streaming", 100, 3600.0, milliseconds(0), 100, ""},
      {"timeout_unknown", "streaming", 100, 3600.0, nullopt, 100, ""},
      {"silence_unknown", "streaming", 100, nullopt, kDefault, 100, ""},
      {"no_receiver", "", 100, 0.1, kDefault, nullopt, "WAL receiver not running"},
      {"receiver_waiting", "waiting", 100, 0.1, kDefault, nullopt,
       "WAL receiver waiting, not streaming"},
      // Connected, no message: within the first second the sender may still be sending what
      // it has; after that it had nothing, and the primary's end is what was received (90).
      {"streaming_nothing_heard_yet", "streaming", nullopt, 0.1, kDefault, nullopt,
       "no message from the primary yet"},
      {"nothing_to_send_since_start", "streaming", nullopt, 1.5, kDefault, 90, ""},
      {"nothing_to_send_idle_primary", "streaming", nullopt, 29.0, kDefault, 90, ""},
      {"nothing_heard_past_ping_and_slack", "streaming", nullopt, 40.0, kDefault, nullopt,
       "WAL receiver silent"},
      {"nothing_heard_silence_unknown", "streaming", nullopt, nullopt, kDefault, nullopt,
       "no message from the primary yet"},
  };
  for (const auto& c : cases) {
    const PrimaryView v = primary_view(c.status, c.latest_end, c.silence, c.timeout, U(90));
    EXPECT_EQ(v.lsn, c.lsn) << c.name;
    if (*c.unknown == '\0') {
      EXPECT_EQ(v.unknown, "") << c.name;
    } else {
      EXPECT_NE(v.unknown.find(c.unknown), std::string::npos) << c.name << ": " << v.unknown;
    }
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
  const auto s =
      parse_local_status(one_row({"f", "7712161188363855152", "3", "0/3000060", nullopt, nullopt,
                                  nullopt, nullopt, "1764091474.25", nullopt, nullopt, "60000"}),
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
  EXPECT_EQ(s->primary_silence_seconds, nullopt);
  EXPECT_EQ(s->wal_receiver_timeout, std::chrono::milliseconds(60000));
}

TEST(SidecarQueries, LocalStatusOfAReplica) {
  std::string why;
  const auto s = parse_local_status(
      one_row({"t", "42", "1", nullopt, "16/B374D848", "16/B374D000", "16/B374D848", "1764091470.5",
               "1764091474.25", "streaming", "-0.002", "0"}),
      &why);
  ASSERT_TRUE(s) << why;
  EXPECT_TRUE(s->in_recovery);
  EXPECT_EQ(s->receive_lsn, U(0x16B374D848ULL));
  EXPECT_EQ(s->replay_lsn, U(0x16B374D000ULL));
  EXPECT_EQ(s->latest_end_lsn, U(0x16B374D848ULL));
  EXPECT_EQ(s->last_replay_epoch, D(1764091470.5));
  EXPECT_EQ(s->wal_receiver_status, "streaming");
  EXPECT_EQ(s->primary_silence_seconds, D(0.0)) << "clock steps never make it negative";
  EXPECT_EQ(s->wal_receiver_timeout, std::chrono::milliseconds(0));
}

TEST(SidecarQueries, LocalStatusRejectsOtherShapes) {
  std::string why;
  EXPECT_FALSE(parse_local_status(agent::QueryResult{}, &why));
  EXPECT_FALSE(parse_local_status(one_row({"t", "42"}), &why));
  EXPECT_FALSE(parse_local_status(
      one_row({"t", "42", "1", nullopt, nullopt, nullopt, nullopt, nullopt, "1", nullopt}), &why))
      << "the ten columns of an older query";
  EXPECT_FALSE(parse_local_status(one_row({"t", nullopt, "1", nullopt, nullopt, nullopt, nullopt,
                                           nullopt, "1", nullopt, nullopt, nullopt}),
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
