#include "roles/clone.hpp"

#include <fmt/format.h>

#include <charconv>

#include "roles/pg_files.hpp"

namespace replagent::roles {

agent::ProcessSpec build_basebackup(const CloneRequest& r) {
  std::string conninfo =
      fmt::format("host={} port={} user={} application_name={}", conninfo_quote(r.host), r.port,
                  conninfo_quote(r.user), conninfo_quote(r.application_name));
  if (!r.hostaddr.empty()) conninfo += " hostaddr=" + conninfo_quote(r.hostaddr);
  conninfo += " connect_timeout=10 options='-c wal_sender_timeout=0'";
  // pg_basebackup -R copies these into primary_conninfo too (init rewrites it anyway).
  conninfo += tls_conninfo(r.ssl_root_cert);
  agent::ProcessSpec spec;
  spec.program = "pg_basebackup";
  spec.search_dir = r.bin_dir;
  spec.args = {"-D", r.target_dir, "-X",         "stream",    "-c", "fast",  "-R",
               "-S", r.slot,       "--progress", "--verbose", "-d", conninfo};
  if (r.max_rate) {
    // pg_basebackup takes kB/s (32..1048576); round down, never below its minimum.
    const std::uint64_t kb = std::max<std::uint64_t>(32, *r.max_rate / 1024);
    spec.args.push_back(fmt::format("--max-rate={}k", kb));
  }
  spec.env["PGPASSFILE"] = r.passfile;
  // The password comes from the passfile only; never from a PGPASSWORD the agent inherited.
  spec.env["PGPASSWORD"] = "";
  return spec;
}

agent::ProcessSpec build_verifybackup(const std::string& dir, const std::string& bin_dir) {
  agent::ProcessSpec spec;
  spec.program = "pg_verifybackup";
  spec.search_dir = bin_dir;
  spec.args = {dir};
  return spec;
}

// The first "<done>/<total> kB (<percent>%)" in the line. Scanned by hand: std::regex
// recurses once per character matched and overflowed the stack on a long run of digits
// (found by test/fuzz/progress_fuzz.cpp), and a line is whatever the child printed.
std::optional<Progress> parse_progress_line(std::string_view line) {
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  const auto num = [](std::string_view digits, auto& out) {
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
    return ec == std::errc() && ptr == digits.data() + digits.size();
  };
  constexpr std::string_view kMid = " kB (";
  for (auto mid = line.find(kMid); mid != std::string_view::npos; mid = line.find(kMid, mid + 1)) {
    auto slash = mid;  // digits, then '/', then digits right before " kB ("
    while (slash > 0 && is_digit(line[slash - 1])) --slash;
    if (slash == mid || slash == 0 || line[slash - 1] != '/') continue;
    auto first = slash - 1;
    while (first > 0 && is_digit(line[first - 1])) --first;
    if (first == slash - 1) continue;
    const auto pct_begin = mid + kMid.size();
    auto pct_end = pct_begin;
    while (pct_end < line.size() && is_digit(line[pct_end])) ++pct_end;
    if (pct_end == pct_begin || line.substr(pct_end, 2) != "%)") continue;
    Progress p;
    if (!num(line.substr(first, slash - 1 - first), p.done_kb) ||
        !num(line.substr(slash, mid - slash), p.total_kb) ||
        !num(line.substr(pct_begin, pct_end - pct_begin), p.percent))
      return std::nullopt;
    return p;
  }
  return std::nullopt;
}

ProgressReporter::ProgressReporter(agent::Clock& clock, std::chrono::milliseconds interval)
    : clock_(clock), interval_(interval), start_(clock.now()), last_report_(start_) {}

std::optional<std::string> ProgressReporter::update(const Progress& p) {
  last_ = p;
  const auto now = clock_.now();
  if (now - last_report_ < interval_) return std::nullopt;
  last_report_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double mb = static_cast<double>(p.done_kb) / 1024.0;
  const double total_mb = static_cast<double>(p.total_kb) / 1024.0;
  const double rate = secs > 0 ? mb / secs : 0;
  std::string eta = "unknown";
  if (rate > 0 && p.total_kb >= p.done_kb) eta = fmt::format("{:.0f}s", (total_mb - mb) / rate);
  return fmt::format("clone progress {}% ({:.1f}/{:.1f} MB) {:.1f} MB/s eta {}", p.percent, mb,
                     total_mb, rate, eta);
}

std::string ProgressReporter::summary() const {
  const double secs = std::chrono::duration<double>(clock_.now() - start_).count();
  const double mb = static_cast<double>(last_.done_kb) / 1024.0;
  return fmt::format("{:.1f} MB in {:.1f}s ({:.1f} MB/s)", mb, secs, secs > 0 ? mb / secs : 0.0);
}

}  // namespace replagent::roles
