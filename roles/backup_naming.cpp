#include "roles/backup_naming.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <map>

#include "agent/units.hpp"

namespace replagent::roles {
namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
}

int to_int(std::string_view s) {
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::string format_backup_timestamp(WallTime t) {
  const std::time_t secs =
      std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::optional<WallTime> parse_backup_timestamp(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z' || !all_digits(s.substr(0, 8)) ||
      !all_digits(s.substr(9, 6))) {
    return std::nullopt;
  }
  // system_clock counts nanoseconds in an int64: years outside 1678..2261 do not fit, and a
  // file named like that on the backup volume must not overflow from_time_t (fuzz finding).
  const int year = to_int(s.substr(0, 4));
  if (year < 1970 || year > 2200) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = to_int(s.substr(4, 2)) - 1;
  tm.tm_mday = to_int(s.substr(6, 2));
  tm.tm_hour = to_int(s.substr(9, 2));
  tm.tm_min = to_int(s.substr(11, 2));
  tm.tm_sec = to_int(s.substr(13, 2));
  const std::tm asked = tm;
  const std::time_t secs = ::timegm(&tm);
  // timegm normalises 20261131 to December 1st: a name that does not round-trip is not ours.
  if (secs == -1 || tm.tm_year != asked.tm_year || tm.tm_mon != asked.tm_mon ||
      tm.tm_mday != asked.tm_mday || tm.tm_hour != asked.tm_hour || tm.tm_min != asked.tm_min ||
      tm.tm_sec != asked.tm_sec) {
    return std::nullopt;
  }
  return std::chrono::system_clock::from_time_t(secs);
}

std::string backup_file_name(const std::string& set, WallTime t) {
  return set + "-" + format_backup_timestamp(t) + std::string(kDumpSuffix);
}

std::optional<BackupFileName> parse_backup_file_name(const std::string& set,
                                                     std::string_view name) {
  static const std::pair<std::string_view, BackupFileKind> kSuffixes[] = {
      {kPartialSuffix, BackupFileKind::kPartial},
      {kChecksumSuffix, BackupFileKind::kChecksum},
      {kCountsSuffix, BackupFileKind::kCounts},
      {kDumpSuffix, BackupFileKind::kDump},
  };
  for (const auto& [suffix, kind] : kSuffixes) {
    if (!ends_with(name, suffix)) continue;
    const std::string_view stem = name.substr(0, name.size() - suffix.size());
    // <set>-<16 characters of timestamp>
    if (set.empty() || stem.size() != set.size() + 1 + 16 || stem.substr(0, set.size()) != set ||
        stem[set.size()] != '-') {
      return std::nullopt;
    }
    const auto taken = parse_backup_timestamp(stem.substr(set.size() + 1));
    if (!taken) return std::nullopt;
    return BackupFileName{kind, std::string(stem) + std::string(kDumpSuffix), *taken};
  }
  return std::nullopt;
}

RetentionPlan plan_retention(std::vector<BackupEntry> entries, const std::string& just_made,
                             int keep, std::optional<std::chrono::milliseconds> max_age,
                             WallTime now) {
  // Newest first; equal times by name, so the plan never depends on directory order.
  std::sort(entries.begin(), entries.end(), [](const BackupEntry& a, const BackupEntry& b) {
    return a.taken != b.taken ? a.taken > b.taken : a.name > b.name;
  });
  RetentionPlan plan;
  const bool have_new = std::any_of(entries.begin(), entries.end(),
                                    [&](const BackupEntry& e) { return e.name == just_made; });
  // The new backup takes one of the `keep` places whatever its position.
  int places = std::max(keep, 1) - (have_new ? 1 : 0);
  for (const auto& e : entries) {
    if (e.name == just_made) {
      plan.keep.push_back(e.name);
      continue;
    }
    const bool too_old = max_age && now - e.taken > *max_age;
    if (places > 0 && !too_old) {
      plan.keep.push_back(e.name);
      --places;
    } else {
      plan.remove.push_back(e.name);
    }
  }
  return plan;
}

std::optional<BackupEntry> newest_backup(const std::vector<BackupEntry>& entries) {
  if (entries.empty()) return std::nullopt;
  return *std::max_element(entries.begin(), entries.end(),
                           [](const BackupEntry& a, const BackupEntry& b) {
                             return a.taken != b.taken ? a.taken < b.taken : a.name < b.name;
                           });
}

std::string format_summary(const BackupSummary& s) {
  const double seconds = static_cast<double>(s.elapsed.count()) / 1000.0;
  const double mb_per_s = seconds > 0 ? static_cast<double>(s.bytes) / 1e6 / seconds : 0.0;
  std::string removed = std::to_string(s.removed.size());
  if (!s.removed.empty()) {
    removed += " (";
    for (std::size_t i = 0; i < s.removed.size(); ++i) removed += (i ? ", " : "") + s.removed[i];
    removed += ")";
  }
  return fmt::format(
      "backup done: source {}, {} bytes ({}) in {:.1f}s ({:.1f} MB/s), file {}, {} tables / {} "
      "rows, kept {}, removed {}",
      s.source, s.bytes, agent::format_size(s.bytes), seconds, mb_per_s, s.file, s.tables, s.rows,
      s.kept, removed);
}

std::optional<EmptyDumpVerdict> judge_empty_dump(const std::string& database, bool at_default,
                                                 std::size_t tables,
                                                 const std::vector<std::string>& others) {
  if (tables > 0) return std::nullopt;
  std::string listed;
  for (std::size_t i = 0; i < others.size(); ++i) listed += (i ? ", " : "") + others[i];
  const std::string there = others.empty()
                                ? "the server has no other database"
                                : fmt::format("the server's other databases: {}", listed);
  if (at_default) {
    return EmptyDumpVerdict{
        true, fmt::format("database {} (backup.database's default) holds no tables: a backup of "
                          "it would protect nothing; set backup.database to the application's "
                          "database (REPLAGENT_BACKUP_DATABASE, the chart's backup.database "
                          "value); {}",
                          database, there)};
  }
  return EmptyDumpVerdict{
      false, fmt::format("database {} (backup.database) holds no tables: this backup protects "
                         "nothing; check that backup.database names the application's database "
                         "({})",
                         database, there)};
}

std::string format_age(std::chrono::seconds age) {
  long long s = std::max<long long>(0, age.count());
  const long long d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60;
  s %= 60;
  if (d > 0) return h > 0 ? fmt::format("{}d{}h", d, h) : fmt::format("{}d", d);
  if (h > 0) return m > 0 ? fmt::format("{}h{}m", h, m) : fmt::format("{}h", h);
  if (m > 0) return s > 0 ? fmt::format("{}m{}s", m, s) : fmt::format("{}m", m);
  return fmt::format("{}s", s);
}

std::string format_list_line(const ListedBackup& b) {
  const char* sum = b.checksum == ListedBackup::Checksum::kOk         ? "checksum ok"
                    : b.checksum == ListedBackup::Checksum::kMismatch ? "CHECKSUM MISMATCH"
                                                                      : "CHECKSUM MISSING";
  return fmt::format("{}  {:>10}  {:>6} old  {}", b.name, agent::format_size(b.bytes),
                     format_age(b.age), sum);
}

std::string render_counts(std::vector<TableCount> counts) {
  std::sort(counts.begin(), counts.end(),
            [](const TableCount& a, const TableCount& b) { return a.table < b.table; });
  std::string out;
  for (const auto& c : counts) out += fmt::format("{}\t{}\n", c.rows, c.table);
  return out;
}

std::optional<std::vector<TableCount>> parse_counts(std::string_view text) {
  std::vector<TableCount> out;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;  // always newline-terminated
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    const auto tab = line.find('\t');
    if (tab == std::string_view::npos || tab + 1 >= line.size()) return std::nullopt;
    TableCount c;
    const auto digits = line.substr(0, tab);
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), c.rows);
    if (ec != std::errc() || p != digits.data() + digits.size()) return std::nullopt;
    c.table = std::string(line.substr(tab + 1));
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<std::string> compare_counts(const std::vector<TableCount>& source,
                                        const std::vector<TableCount>& restored) {
  std::map<std::string, std::uint64_t> got;
  for (const auto& r : restored) got[r.table] = r.rows;
  std::vector<std::string> diffs;
  for (const auto& s : source) {
    const auto it = got.find(s.table);
    if (it == got.end()) {
      diffs.push_back(
          fmt::format("{}: missing from the restore ({} rows in the source)", s.table, s.rows));
    } else if (it->second != s.rows) {
      diffs.push_back(
          fmt::format("{}: {} rows restored, {} in the source", s.table, it->second, s.rows));
    }
  }
  return diffs;
}

std::string render_checksum_line(const std::string& hex, const std::string& file_name) {
  return hex + "  " + file_name + "\n";
}

std::optional<std::string> parse_checksum_line(std::string_view text) {
  if (text.size() < 64) return std::nullopt;
  const std::string_view hex = text.substr(0, 64);
  if (!std::all_of(hex.begin(), hex.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
      })) {
    return std::nullopt;
  }
  if (text.size() > 64 && text[64] != ' ' && text[64] != '\n') return std::nullopt;
  return std::string(hex);
}

}  // namespace replagent::roles
