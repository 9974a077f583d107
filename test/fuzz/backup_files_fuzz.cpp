// The readers of what lies on the shared backup volume (roles/backup_naming.hpp), which any
// pod, an operator or a half-finished run may have written. Input: the first line is the
// set's name, the rest the text (a directory entry's name, a .sha256 file, a .counts file).
// Properties: no crash; whatever parses re-renders to text that parses to the same value:
//  - parse_backup_file_name: the name is <set>-<timestamp> plus the suffix of its kind,
//    backup_file_name(set, taken) is its .dump name, and that name parses as the same dump;
//  - parse_backup_timestamp: format_backup_timestamp gives back exactly the text;
//  - parse_checksum_line: 64 lower-case hex digits, the text's first 64 bytes, and
//    render_checksum_line of them parses to the same digest;
//  - parse_counts: render_counts of the counts parses to the same counts (sorted by table).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "roles/backup_naming.hpp"
#include "test/fuzz/fuzz_check.hpp"

namespace roles = replagent::roles;

namespace {

std::string_view suffix_of(roles::BackupFileKind kind) {
  switch (kind) {
    case roles::BackupFileKind::kDump:
      return roles::kDumpSuffix;
    case roles::BackupFileKind::kPartial:
      return roles::kPartialSuffix;
    case roles::BackupFileKind::kChecksum:
      return roles::kChecksumSuffix;
    case roles::BackupFileKind::kCounts:
      return roles::kCountsSuffix;
  }
  return "";
}

std::vector<roles::TableCount> sorted(std::vector<roles::TableCount> v) {
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return std::tie(a.table, a.rows) < std::tie(b.table, b.rows);
  });
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto nl = in.find('\n');
  const std::string set(in.substr(0, nl));
  const std::string_view text =
      nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);

  if (auto name = roles::parse_backup_file_name(set, text)) {
    const std::string stem =
        name->dump_name.substr(0, name->dump_name.size() - roles::kDumpSuffix.size());
    FUZZ_CHECK(name->dump_name == roles::backup_file_name(set, name->taken));
    FUZZ_CHECK(std::string(text) == stem + std::string(suffix_of(name->kind)));
    const auto again = roles::parse_backup_file_name(set, name->dump_name);
    FUZZ_CHECK(again && again->kind == roles::BackupFileKind::kDump &&
               again->dump_name == name->dump_name && again->taken == name->taken);
  }

  if (auto t = roles::parse_backup_timestamp(text)) {
    FUZZ_CHECK(roles::format_backup_timestamp(*t) == text);
  }

  if (auto hex = roles::parse_checksum_line(text)) {
    FUZZ_CHECK(hex->size() == 64 && text.substr(0, 64) == *hex);
    for (char c : *hex) FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    FUZZ_CHECK(roles::parse_checksum_line(roles::render_checksum_line(*hex, set)) == hex);
  }

  if (auto counts = roles::parse_counts(text)) {
    for (const auto& c : *counts) FUZZ_CHECK(!c.table.empty());
    const auto again = roles::parse_counts(roles::render_counts(*counts));
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(sorted(*again) == sorted(*counts));
  }
  return 0;
}
