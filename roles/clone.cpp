#include "roles/clone.hpp"

#include <fmt/format.h>

#include <charconv>
#include <regex>

#include "roles/pg_files.hpp"

namespace replagent::roles {

agent::ProcessSpec build_basebackup(const CloneRequest& r) {
  std::string conninfo = fmt::format("host={} port={} user={} application_name={}",
                                     conninfo_quote(r.host), r.port, conninfo_quote(r.user),
                                     conninfo_quote(r.application_name));
  if (!r.hostaddr.empty()) conninfo += " hostaddr=" + conninfo_quote(r.hostaddr);
  conninfo += " connect_timeout=10 options='-c wal_sender_timeout=0'";
  agent::ProcessSpec spec;
  spec.program = "pg_basebackup";
  spec.search_dir = r.bin_dir;
  spec.args = {"-D", r.target_dir, "-X", "stream", "-c", "fast", "-R",
               "-S", r.slot, "--progress", "--verbose", "-d", conninfo};
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

std::optional<Progress> parse_progress_line(std::string_view line) {
  static const std::regex kRe(R"((\d+)/(\d+) kB \((\d+)%\))");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_search(line.begin(), line.end(), m, kRe)) return std::nullopt;
  Progress p;
  auto num = [](const auto& sub, auto& out) {
    auto [ptr, ec] = std::from_chars(&*sub.first, &*sub.first + sub.length(), out);
    return ec == std::errc() && ptr == &*sub.first + sub.length();
  };
  if (!num(m[1], p.done_kb) || !num(m[2], p.total_kb) || !num(m[3], p.percent)) return std::nullopt;
  return p;
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
  if (rate > 0 && p.total_kb >= p.done_kb)
    eta = fmt::format("{:.0f}s", (total_mb - mb) / rate);
  return fmt::format("clone progress {}% ({:.1f}/{:.1f} MB) {:.1f} MB/s eta {}", p.percent, mb,
                     total_mb, rate, eta);
}

std::string ProgressReporter::summary() const {
  const double secs = std::chrono::duration<double>(clock_.now() - start_).count();
  const double mb = static_cast<double>(last_.done_kb) / 1024.0;
  return fmt::format("{:.1f} MB in {:.1f}s ({:.1f} MB/s)", mb, secs, secs > 0 ? mb / secs : 0.0);
}

}  // namespace replagent::roles
