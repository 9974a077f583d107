// The pure decisions of `replagent backup`: names, parsing them back, retention, summaries.
#include "roles/backup_naming.hpp"

#include <gtest/gtest.h>

namespace replagent::roles {
namespace {

using namespace std::chrono_literals;

WallTime at(const char* stamp) { return *parse_backup_timestamp(stamp); }

TEST(BackupTimestamp, FormatsUtcToTheSecond) {
  const WallTime t =
      std::chrono::system_clock::from_time_t(1795626900) + 700ms;  // 2026-11-25 17:15:00.7
  EXPECT_EQ(format_backup_timestamp(t), "20261125T171500Z");
  EXPECT_EQ(backup_file_name("todo-db", t), "todo-db-20261125T171500Z.dump");
  EXPECT_EQ(parse_backup_timestamp("20261125T171500Z"),
            std::chrono::system_clock::from_time_t(1795626900));
}

TEST(BackupTimestamp, RejectsMalformed) {
  for (const char* bad :
       {"", "20261125T171500", "20261125t171500Z", "2026112XT171500Z", "20261131T171500Z",
        "20261125T246000Z", "20261125T171500Zx", "2026-11-25T17:15Z", "20260229T000000Z"}) {
    EXPECT_FALSE(parse_backup_timestamp(bad)) << bad;
  }
  EXPECT_TRUE(parse_backup_timestamp("20280229T000000Z"));  // a leap day
}

// Years the clock cannot hold are no backup's (a file named like that once overflowed
// system_clock's int64 nanoseconds: fuzz_backup_files).
TEST(BackupTimestamp, RejectsYearsTheClockCannotHold) {
  for (const char* bad :
       {"00261125T171500Z", "16771125T171500Z", "99991231T235959Z", "22621125T171500Z"}) {
    EXPECT_FALSE(parse_backup_timestamp(bad)) << bad;
  }
  EXPECT_FALSE(parse_backup_file_name("todo-db", "todo-db-00261125T171500Z.dump"));
  EXPECT_TRUE(parse_backup_timestamp("19700101T000000Z"));
  EXPECT_TRUE(parse_backup_timestamp("22001231T235959Z"));
}

TEST(BackupFileName, ParsesOnlyOurSetAndShapes) {
  struct Case {
    const char* file;
    std::optional<BackupFileKind> kind;
  };
  const Case cases[] = {
      {"todo-db-20261125T171500Z.dump", BackupFileKind::kDump},
      {"todo-db-20261125T171500Z.dump.partial", BackupFileKind::kPartial},
      {"todo-db-20261125T171500Z.dump.sha256", BackupFileKind::kChecksum},
      {"todo-db-20261125T171500Z.dump.counts", BackupFileKind::kCounts},
      {"todo-db-20261125T171500Z.dump.bak", std::nullopt},
      {"todo-db-20261125T171500Z.sql", std::nullopt},
      {"other-20261125T171500Z.dump", std::nullopt},
      {"todo-db-x-20261125T171500Z.dump", std::nullopt},  // another set, todo-db-x
      {"todo-20261125T171500Z.dump", std::nullopt},       // a shorter set
      {"todo-db20261125T171500Z.dump", std::nullopt},
      {"todo-db-20261131T171500Z.dump", std::nullopt},  // no such day
      {"todo-db-latest.dump", std::nullopt},
      {".lock", std::nullopt},
      {"notes.txt", std::nullopt},
  };
  for (const auto& c : cases) {
    const auto parsed = parse_backup_file_name("todo-db", c.file);
    ASSERT_EQ(parsed.has_value(), c.kind.has_value()) << c.file;
    if (!parsed) continue;
    EXPECT_EQ(parsed->kind, *c.kind) << c.file;
    EXPECT_EQ(parsed->dump_name, "todo-db-20261125T171500Z.dump") << c.file;
    EXPECT_EQ(parsed->taken, at("20261125T171500Z"));
  }
  EXPECT_FALSE(parse_backup_file_name("", "-20261125T171500Z.dump"));
}

std::vector<BackupEntry> entries(std::initializer_list<const char*> stamps) {
  std::vector<BackupEntry> out;
  for (const char* s : stamps)
    out.push_back(BackupEntry{std::string("db-") + s + ".dump", at(s), 10});
  return out;
}

std::string n(const char* stamp) { return std::string("db-") + stamp + ".dump"; }

TEST(BackupRetention, Table) {
  const WallTime now = at("20261125T120000Z");
  struct Case {
    const char* what;
    std::vector<BackupEntry> backups;
    const char* just_made;
    int keep;
    std::optional<std::chrono::milliseconds> max_age;
    std::vector<std::string> keep_expected;
    std::vector<std::string> remove_expected;
  };
  const Case cases[] = {
      {"fewer than keep",
       entries({"20261125T110000Z", "20261124T110000Z"}),
       "20261125T110000Z",
       3,
       std::nullopt,
       {n("20261125T110000Z"), n("20261124T110000Z")},
       {}},
      {"keep newest 2",
       entries({"20261121T110000Z", "20261125T110000Z", "20261123T110000Z", "20261124T110000Z"}),
       "20261125T110000Z",
       2,
       std::nullopt,
       {n("20261125T110000Z"), n("20261124T110000Z")},
       {n("20261123T110000Z"), n("20261121T110000Z")}},
      {"the new one survives newer (skewed) names",
       entries({"20261125T110000Z", "20261201T000000Z", "20261202T000000Z"}),
       "20261125T110000Z",
       1,
       std::nullopt,
       {n("20261125T110000Z")},
       {n("20261202T000000Z"), n("20261201T000000Z")}},
      {"skewed names share the other places",
       entries({"20261125T110000Z", "20261201T000000Z", "20261202T000000Z"}),
       "20261125T110000Z",
       2,
       std::nullopt,
       {n("20261202T000000Z"), n("20261125T110000Z")},
       {n("20261201T000000Z")}},
      {"max_age drops old ones within keep",
       entries({"20261125T110000Z", "20261124T130000Z", "20261124T110000Z", "20261120T110000Z"}),
       "20261125T110000Z",
       7,
       std::chrono::hours(24),
       {n("20261125T110000Z"), n("20261124T130000Z")},
       {n("20261124T110000Z"), n("20261120T110000Z")}},
      {"max_age never removes the new one",
       entries({"20261101T000000Z"}),
       "20261101T000000Z",
       7,
       std::chrono::hours(1),
       {n("20261101T000000Z")},
       {}},
      {"keep 1",
       entries({"20261125T110000Z", "20261124T110000Z"}),
       "20261125T110000Z",
       1,
       std::nullopt,
       {n("20261125T110000Z")},
       {n("20261124T110000Z")}},
  };
  for (const auto& c : cases) {
    const auto plan = plan_retention(c.backups, n(c.just_made), c.keep, c.max_age, now);
    EXPECT_EQ(plan.keep, c.keep_expected) << c.what;
    EXPECT_EQ(plan.remove, c.remove_expected) << c.what;
  }
}

TEST(BackupRetention, NewestBackup) {
  EXPECT_FALSE(newest_backup({}));
  EXPECT_EQ(
      newest_backup(entries({"20261124T110000Z", "20261125T110000Z", "20261123T110000Z"}))->name,
      n("20261125T110000Z"));
}

TEST(BackupSummary, OneLine) {
  BackupSummary s;
  s.source = "replica 127.0.0.11 (todo-db.default.svc.cluster.local)";
  s.bytes = 12'500'000;
  s.elapsed = 2500ms;
  s.file = "/backup/todo-db-20261125T171500Z.dump";
  s.tables = 4;
  s.rows = 1200;
  s.kept = 7;
  s.removed = {"todo-db-20261118T171500Z.dump"};
  EXPECT_EQ(format_summary(s),
            "backup done: source replica 127.0.0.11 (todo-db.default.svc.cluster.local), "
            "12500000 bytes (12500kB) in 2.5s (5.0 MB/s), file "
            "/backup/todo-db-20261125T171500Z.dump, 4 tables / 1200 rows, kept 7, removed 1 "
            "(todo-db-20261118T171500Z.dump)");
  s.removed.clear();
  s.elapsed = 0ms;
  EXPECT_NE(format_summary(s).find("(0.0 MB/s)"), std::string::npos);
  EXPECT_NE(format_summary(s).find("removed 0"), std::string::npos);
}

TEST(BackupSummary, Ages) {
  const std::pair<long long, const char*> cases[] = {
      {0, "0s"},      {59, "59s"},   {60, "1m"},      {61, "1m1s"}, {3600, "1h"},
      {3660, "1h1m"}, {86400, "1d"}, {90000, "1d1h"}, {-5, "0s"},
  };
  for (const auto& [secs, text] : cases) EXPECT_EQ(format_age(std::chrono::seconds(secs)), text);
}

TEST(BackupSummary, ListLine) {
  ListedBackup b{"todo-db-20261125T171500Z.dump", 2'000'000, std::chrono::seconds(3660),
                 ListedBackup::Checksum::kMismatch};
  EXPECT_EQ(format_list_line(b),
            "todo-db-20261125T171500Z.dump         2MB    1h1m old  CHECKSUM MISMATCH");
}

TEST(BackupCounts, RoundTripAndCompare) {
  const std::vector<TableCount> counts{
      {"public.todo", 3}, {"\"Odd Schema\".\"t\"", 0}, {"public.audit", 12}};
  const std::string text = render_counts(counts);
  EXPECT_EQ(text, "0\t\"Odd Schema\".\"t\"\n12\tpublic.audit\n3\tpublic.todo\n");
  const auto back = parse_counts(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->size(), 3u);
  EXPECT_TRUE(compare_counts(counts, *back).empty());
  EXPECT_EQ(parse_counts("")->size(), 0u);
  for (const char* bad : {"x\tpublic.t\n", "3 public.t\n", "3\tpublic.t", "3\t\n", "-1\tt\n"})
    EXPECT_FALSE(parse_counts(bad)) << bad;

  const std::vector<TableCount> restored{{"public.todo", 2}, {"public.extra", 5}};
  EXPECT_EQ(compare_counts(counts, restored),
            (std::vector<std::string>{
                "public.todo: 2 rows restored, 3 in the source",
                "\"Odd Schema\".\"t\": missing from the restore (0 rows in the source)",
                "public.audit: missing from the restore (12 rows in the source)"}));
}

TEST(BackupEmptyDump, ErrorOnlyForTheDefaultDatabase) {
  EXPECT_FALSE(judge_empty_dump("postgres", true, 1, {}));
  EXPECT_FALSE(judge_empty_dump("todo", false, 3, {}));

  const auto left = judge_empty_dump("postgres", true, 0, {"billing", "todo"});
  ASSERT_TRUE(left);
  EXPECT_TRUE(left->error);
  for (const char* needle :
       {"database postgres", "holds no tables", "set backup.database", "REPLAGENT_BACKUP_DATABASE",
        "the chart's backup.database", "other databases: billing, todo"}) {
    EXPECT_NE(left->message.find(needle), std::string::npos) << needle << ": " << left->message;
  }
  const auto alone = judge_empty_dump("postgres", true, 0, {});
  ASSERT_TRUE(alone);
  EXPECT_NE(alone->message.find("the server has no other database"), std::string::npos)
      << alone->message;

  const auto named = judge_empty_dump("todo", false, 0, {"postgres"});
  ASSERT_TRUE(named);
  EXPECT_FALSE(named->error);
  EXPECT_NE(named->message.find("database todo (backup.database) holds no tables"),
            std::string::npos)
      << named->message;
  EXPECT_EQ(named->message.find('\n'), std::string::npos) << "one log line";
}

TEST(BackupChecksum, Sha256sumFormat) {
  const std::string hex(64, 'a');
  EXPECT_EQ(render_checksum_line(hex, "x.dump"), hex + "  x.dump\n");
  EXPECT_EQ(parse_checksum_line(hex + "  x.dump\n"), hex);
  EXPECT_EQ(parse_checksum_line(hex + "\n"), hex);
  EXPECT_FALSE(parse_checksum_line(std::string(63, 'a')));
  EXPECT_FALSE(parse_checksum_line(std::string(64, 'A')));
  EXPECT_FALSE(parse_checksum_line(std::string(65, 'a')));
}

}  // namespace
}  // namespace replagent::roles
