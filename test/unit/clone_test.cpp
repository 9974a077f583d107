#include "roles/clone.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test/unit/fakes.hpp"

namespace replagent::roles {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

CloneRequest sample_request() {
  CloneRequest r;
  r.target_dir = "/data/.pgdata.replagent-staging";
  r.host = "todo-db-0.todo-db.default.svc.cluster.local";
  r.hostaddr = "10.0.0.10";
  r.port = 5432;
  r.user = "replicator";
  r.application_name = "todo-db-1";
  r.slot = "todo_db_1";
  r.passfile = "/data/.pgdata.replagent-run/pgpass";
  r.bin_dir = "/usr/lib/postgresql/15/bin";
  return r;
}

const char* const kConninfo =
    "host='todo-db-0.todo-db.default.svc.cluster.local' port=5432 user='replicator' "
    "application_name='todo-db-1' hostaddr='10.0.0.10' connect_timeout=10 "
    "options='-c wal_sender_timeout=0'";

TEST(BuildBasebackup, ArgvExactly) {
  const agent::ProcessSpec spec = build_basebackup(sample_request());
  EXPECT_EQ(spec.program, "pg_basebackup");
  EXPECT_EQ(spec.search_dir, "/usr/lib/postgresql/15/bin");
  const std::vector<std::string> expected = {"-D",        "/data/.pgdata.replagent-staging",
                                             "-X",        "stream",
                                             "-c",        "fast",
                                             "-R",        "-S",
                                             "todo_db_1", "--progress",
                                             "--verbose", "-d",
                                             kConninfo};
  EXPECT_EQ(spec.args, expected);
  EXPECT_EQ(spec.env.at("PGPASSFILE"), "/data/.pgdata.replagent-run/pgpass");
  // An inherited PGPASSWORD must not win over the passfile.
  EXPECT_EQ(spec.env.at("PGPASSWORD"), "");
}

TEST(BuildBasebackup, NoPasswordInArgs) {
  auto r = sample_request();
  r.user = "rep";
  const agent::ProcessSpec spec = build_basebackup(r);
  for (const auto& a : spec.args) {
    EXPECT_EQ(a.find("password"), std::string::npos) << a;
    EXPECT_EQ(a.find("PGPASSWORD"), std::string::npos) << a;
  }
  for (const auto& [k, v] : spec.env) EXPECT_TRUE(v.empty() || k == "PGPASSFILE") << k;
}

TEST(BuildBasebackup, WithoutHostaddr) {
  auto r = sample_request();
  r.hostaddr.clear();
  const std::string conninfo = build_basebackup(r).args.back();
  EXPECT_EQ(conninfo.find("hostaddr"), std::string::npos) << conninfo;
  EXPECT_NE(conninfo.find("wal_sender_timeout=0"), std::string::npos);
  EXPECT_NE(conninfo.find("application_name='todo-db-1'"), std::string::npos);
}

struct RateCase {
  std::uint64_t bytes_per_second;
  const char* flag;
};

class MaxRate : public ::testing::TestWithParam<RateCase> {};

TEST_P(MaxRate, InKilobytesWithFloor) {
  auto r = sample_request();
  r.max_rate = GetParam().bytes_per_second;
  const auto spec = build_basebackup(r);
  EXPECT_EQ(spec.args.back(), GetParam().flag);
  EXPECT_EQ(spec.args[spec.args.size() - 2], kConninfo);
}

INSTANTIATE_TEST_SUITE_P(
    Rates, MaxRate,
    ::testing::Values(RateCase{16ULL * 1024 * 1024, "--max-rate=16384k"},
                      RateCase{10ULL * 1000 * 1000, "--max-rate=9765k"},  // rounds down
                      RateCase{32 * 1024, "--max-rate=32k"},
                      RateCase{1000, "--max-rate=32k"},  // pg_basebackup's minimum
                      RateCase{0, "--max-rate=32k"},
                      RateCase{1024ULL * 1024 * 1024, "--max-rate=1048576k"}));

TEST(BuildBasebackup, NoMaxRateFlagByDefault) {
  for (const auto& a : build_basebackup(sample_request()).args)
    EXPECT_EQ(a.find("--max-rate"), std::string::npos);
}

TEST(BuildVerifybackup, Argv) {
  const auto spec = build_verifybackup("/data/.pgdata.replagent-staging", "/pg/bin");
  EXPECT_EQ(spec.program, "pg_verifybackup");
  EXPECT_EQ(spec.search_dir, "/pg/bin");
  EXPECT_EQ(spec.args, std::vector<std::string>{"/data/.pgdata.replagent-staging"});
}

struct ProgressCase {
  const char* name;
  const char* line;
  std::optional<Progress> expected;
};

class ParseProgress : public ::testing::TestWithParam<ProgressCase> {};

TEST_P(ParseProgress, Line) {
  const auto& c = GetParam();
  const auto got = parse_progress_line(c.line);
  ASSERT_EQ(got.has_value(), c.expected.has_value()) << c.line;
  if (got) {
    EXPECT_EQ(got->done_kb, c.expected->done_kb);
    EXPECT_EQ(got->total_kb, c.expected->total_kb);
    EXPECT_EQ(got->percent, c.expected->percent);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Pg15Lines, ParseProgress,
    ::testing::Values(
        ProgressCase{"verbose_with_file", "  1234/56789 kB (2%), 0/1 tablespace (...a/base/1/1255)",
                     Progress{1234, 56789, 2}},
        ProgressCase{
            "verbose_padded_file",
            "  1234/56789 kB (2%), 0/1 tablespace (/var/lib/postgresql/data/base/1/1255   )",
            Progress{1234, 56789, 2}},
        ProgressCase{"done", "56789/56789 kB (100%), 1/1 tablespace", Progress{56789, 56789, 100}},
        ProgressCase{"start", "    0/1234 kB (0%), 0/1 tablespace", Progress{0, 1234, 0}},
        ProgressCase{"big", "157286400/157286400 kB (100%), 1/1 tablespace",
                     Progress{157286400, 157286400, 100}},
        ProgressCase{"verbose_message",
                     "pg_basebackup: initiating base backup, waiting for checkpoint to complete",
                     std::nullopt},
        ProgressCase{"wal_message",
                     "pg_basebackup: write-ahead log start point: 0/2000028 on "
                     "timeline 1",
                     std::nullopt},
        ProgressCase{"empty", "", std::nullopt},
        ProgressCase{"garbage", "kB (%) / tablespace", std::nullopt},
        ProgressCase{"no_percent", "1234/56789 kB, 0/1 tablespace", std::nullopt},
        ProgressCase{"overflow_done", "99999999999999999999999/1 kB (1%), 0/1 tablespace",
                     std::nullopt},
        ProgressCase{"overflow_percent", "1/2 kB (99999999999999999999%), 0/1 tablespace",
                     std::nullopt},
        ProgressCase{"after_a_near_miss", "x/1 kB (2%) 3/4 kB (5), 6/7 kB (8%)", Progress{6, 7, 8}},
        ProgressCase{"no_done", "/7 kB (8%)", std::nullopt}),
    [](const auto& info) { return std::string(info.param.name); });

// std::regex recursed once per digit and overflowed the stack here (found by fuzz_progress).
TEST(ParseProgressLine, LongRunOfDigitsIsNoProgress) {
  EXPECT_FALSE(parse_progress_line(std::string(1'000'000, '7') + "/ kB (1%)"));
  const auto p = parse_progress_line("1/" + std::string(300'000, '0') + "2 kB (3%)");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->total_kb, 2u);
}

TEST(ProgressReporter, NothingBeforeTheInterval) {
  fakes::FakeClock clock;
  ProgressReporter r(clock, seconds(5));
  EXPECT_FALSE(r.update(Progress{1024, 102400, 1}));
  clock.advance(milliseconds(4999));
  EXPECT_FALSE(r.update(Progress{40960, 102400, 40}));
}

TEST(ProgressReporter, LineWithPercentRateAndEta) {
  fakes::FakeClock clock;
  ProgressReporter r(clock, seconds(5));
  clock.advance(seconds(5));
  const auto line = r.update(Progress{51200, 102400, 50});
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, "clone progress 50% (50.0/100.0 MB) 10.0 MB/s eta 5s");

  clock.advance(seconds(1));
  EXPECT_FALSE(r.update(Progress{61440, 102400, 60})) << "at most one line per interval";

  clock.advance(seconds(4));
  const auto next = r.update(Progress{102400, 102400, 100});
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, "clone progress 100% (100.0/100.0 MB) 10.0 MB/s eta 0s");
  EXPECT_EQ(r.summary(), "100.0 MB in 10.0s (10.0 MB/s)");
}

TEST(ProgressReporter, UnknownEtaWhenNothingCopiedYet) {
  fakes::FakeClock clock;
  ProgressReporter r(clock, seconds(5));
  clock.advance(seconds(6));
  const auto line = r.update(Progress{0, 102400, 0});
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("eta unknown"), std::string::npos) << *line;
}

TEST(ProgressReporter, SummaryWithoutUpdates) {
  fakes::FakeClock clock;
  ProgressReporter r(clock, seconds(5));
  EXPECT_EQ(r.summary(), "0.0 MB in 0.0s (0.0 MB/s)");
}

}  // namespace
}  // namespace replagent::roles
