#include "roles/init_record.hpp"

#include <spdlog/spdlog.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/fs.hpp"

namespace replagent::roles {
namespace {

std::string one_line(std::string s) {
  for (char& ch : s) {
    if (ch == '\n' || ch == '\r') ch = ' ';
  }
  return s;
}

}  // namespace

std::string render_init_record(const InitRecord& r) {
  return "# written by replagent init after each successful run; read by replagent sidecar\n"
         "action=" +
         one_line(r.action) + "\nreason=" + one_line(r.reason) +
         "\ntime=" + std::to_string(r.time) + "\nmessage=" + one_line(r.message) + "\n";
}

std::optional<InitRecord> parse_init_record(const std::string& text) {
  InitRecord r;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq);
    std::string value = line.substr(eq + 1);
    if (key == "action") {
      r.action = std::move(value);
    } else if (key == "reason") {
      r.reason = std::move(value);
    } else if (key == "message") {
      r.message = std::move(value);
    } else if (key == "time") {
      std::int64_t t = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), t);
      if (ec == std::errc() && end == value.data() + value.size()) r.time = t;
    }
  }
  if (r.action.empty()) return std::nullopt;
  return r;
}

void save_init_record(const std::string& pgdata, const InitOutcome& outcome, std::int64_t now) {
  if (outcome.action == InitAction::kNone) return;
  const auto path = (std::filesystem::path(pgdata) / kInitRecordFile).string();
  try {
    agent::write_file_atomic(
        path,
        render_init_record(
            InitRecord{to_string(outcome.action), to_string(outcome.reason), now, outcome.message}),
        0600);
  } catch (const std::exception& e) {
    spdlog::warn("cannot record the init outcome in {}: {}", path, e.what());
  }
}

std::optional<InitRecord> load_init_record(const std::string& pgdata) {
  std::ifstream in(std::filesystem::path(pgdata) / kInitRecordFile);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_init_record(ss.str());
}

}  // namespace replagent::roles
