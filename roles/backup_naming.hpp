// Pure decisions of `replagent backup`: how a backup file is named, how a name is read back,
// which backups retention keeps, and the lines the command prints. No effects here.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace replagent::roles {

using WallTime = std::chrono::system_clock::time_point;

// A backup is `<set>-<UTC timestamp>.dump` (20261125T171500Z) with companions beside it:
// `.dump.partial` while it is written, `.dump.sha256` (sha256sum format) and `.dump.counts`
// (row counts at the dump's snapshot). Only names of this shape, for this set, are ours.
constexpr std::string_view kDumpSuffix = ".dump";
constexpr std::string_view kPartialSuffix = ".dump.partial";
constexpr std::string_view kChecksumSuffix = ".dump.sha256";
constexpr std::string_view kCountsSuffix = ".dump.counts";

// 2026-11-25 17:15:00.7 UTC -> "20261125T171500Z" (seconds truncated).
std::string format_backup_timestamp(WallTime t);
// The inverse; nullopt unless exactly 8 digits, 'T', 6 digits, 'Z' naming a valid time.
std::optional<WallTime> parse_backup_timestamp(std::string_view text);

// "todo-db" + t -> "todo-db-20261125T171500Z.dump".
std::string backup_file_name(const std::string& set, WallTime t);

enum class BackupFileKind { kDump, kPartial, kChecksum, kCounts };

// What a directory entry is, when it is one of ours: the set's name must match exactly (a
// set "todo" does not claim "todo-db-...dump"), the timestamp must parse.
struct BackupFileName {
  BackupFileKind kind = BackupFileKind::kDump;
  std::string dump_name;  // the .dump name it belongs to
  WallTime taken;
};
std::optional<BackupFileName> parse_backup_file_name(const std::string& set,
                                                     std::string_view file_name);

// One complete backup found in the directory.
struct BackupEntry {
  std::string name;  // the .dump file name
  WallTime taken;
  std::uint64_t bytes = 0;
};

// Retention: the newest `keep` backups stay (the one just made always among them, even when
// clock skew gave older runs later names), and with `max_age` every other backup taken
// longer ago than that goes too. Everything not listed in `entries` is never touched.
struct RetentionPlan {
  std::vector<std::string> keep;    // newest first
  std::vector<std::string> remove;  // newest first
};
RetentionPlan plan_retention(std::vector<BackupEntry> entries, const std::string& just_made,
                             int keep, std::optional<std::chrono::milliseconds> max_age,
                             WallTime now);

// The newest backup (by the time in its name), or nullopt.
std::optional<BackupEntry> newest_backup(const std::vector<BackupEntry>& entries);

// The closing line of a successful backup.
struct BackupSummary {
  std::string source;  // "replica 127.0.0.11 (via todo-db.default.svc.cluster.local)"
  std::uint64_t bytes = 0;
  std::chrono::milliseconds elapsed{0};
  std::string file;  // full path of the .dump
  std::size_t tables = 0;
  std::uint64_t rows = 0;
  std::size_t kept = 0;
  std::vector<std::string> removed;
};
// "backup done: source ..., 12.3MiB in 4.2s (2.9 MB/s), file ..., 3 tables / 1200 rows,
// kept 7, removed 1 (todo-db-20261118T171500Z.dump)"
std::string format_summary(const BackupSummary& s);

// A dump of a database without a table protects nothing, yet looks like any other backup.
// `at_default`: backup.database is the built-in default, `postgres`, the maintenance database
// every server has and applications rarely use (the chart writes that default into its
// ConfigMap too, so where the value came from cannot tell a choice from an oversight). Then it
// is a setting nobody made: an error saying what to set, naming the server's other databases.
// A database named on purpose may be empty for a while (an application before its first
// migration): a warning. nullopt when the dump holds a table.
struct EmptyDumpVerdict {
  bool error = false;
  std::string message;  // one line
};
std::optional<EmptyDumpVerdict> judge_empty_dump(const std::string& database, bool at_default,
                                                 std::size_t tables,
                                                 const std::vector<std::string>& other_databases);

// "3d4h", "5m", "12s": a backup's age for --list (coarse: the two largest units).
std::string format_age(std::chrono::seconds age);

// One line of --list.
struct ListedBackup {
  std::string name;
  std::uint64_t bytes = 0;
  std::chrono::seconds age{0};
  enum class Checksum { kOk, kMismatch, kMissing } checksum = Checksum::kOk;
};
std::string format_list_line(const ListedBackup& b);

// The row counts of every user table at the dump's snapshot, one "count<TAB>schema.table"
// line each (names as quote_ident writes them), sorted by name.
struct TableCount {
  std::string table;
  std::uint64_t rows = 0;
  bool operator==(const TableCount&) const = default;
};
std::string render_counts(std::vector<TableCount> counts);
// nullopt for a malformed file.
std::optional<std::vector<TableCount>> parse_counts(std::string_view text);

// Compares the restored tables with the source's counts: one line per difference (a table
// missing from the restore, or other counts); empty when they match.
std::vector<std::string> compare_counts(const std::vector<TableCount>& source,
                                        const std::vector<TableCount>& restored);

// "<hex>  <file name>\n", what `sha256sum -c` reads; and the hex digest back from it.
std::string render_checksum_line(const std::string& hex, const std::string& file_name);
std::optional<std::string> parse_checksum_line(std::string_view text);

}  // namespace replagent::roles
