// The fixture of the backup flow tests (backup_flow_test.cpp, backup_safety_test.cpp,
// backup_conflict_test.cpp): a set of three fake servers behind fake DNS, a fake pg_dump, a fake
// clock, real files in a temporary directory. Header only.
#pragma once

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "roles/backup.hpp"
#include "roles/backup_dump.hpp"
#include "roles/backup_retry.hpp"
#include "roles/backup_source.hpp"
#include "roles/backup_store.hpp"
#include "test/unit/fakes.hpp"

// A named namespace, not an anonymous one: gtest requires the one fixture class of a test suite
// (BackupFlow) to be the same type in every file that has tests of it.
namespace replagent::roles::backup_flow_test {

namespace fs = std::filesystem;
using fakes::FakeClock;
using fakes::FakeProcessRunner;
using fakes::FakeResolver;
using fakes::TempDir;

// A server per address: its role, whether it answers, and the tables it holds.
struct FakeServer {
  bool in_recovery = false;
  std::string receiver;  // pg_stat_wal_receiver.status
  std::optional<agent::PgError> connect_error;
  std::vector<TableCount> tables;
  std::vector<std::string> other_databases;  // pg_database, besides the connected one
};

class ScriptedSession : public agent::PgSession {
 public:
  ScriptedSession(const FakeServer& s, std::vector<std::string>* log) : s_(s), log_(log) {}
  std::optional<agent::PgError> exec(const std::string& sql, agent::QueryResult* out) override {
    log_->push_back(sql);
    agent::QueryResult r;
    if (sql.find("pg_is_in_recovery") != std::string::npos) {
      r.rows.push_back({std::string(s_.in_recovery ? "true" : "false"), s_.receiver});
    } else if (sql.find("pg_export_snapshot") != std::string::npos) {
      r.rows.push_back({std::string("00000003-0000001B-1")});
    } else if (sql.find("query_to_xml") != std::string::npos) {
      for (const auto& t : s_.tables) r.rows.push_back({t.table, std::to_string(t.rows)});
    } else if (sql.find("pg_database") != std::string::npos) {
      for (const auto& d : s_.other_databases) r.rows.push_back({d});
    }
    if (out) *out = r;
    return std::nullopt;
  }
  std::optional<agent::PgError> exec_params(const std::string& sql, const std::vector<std::string>&,
                                            agent::QueryResult* out) override {
    return exec(sql, out);
  }
  std::string encrypt_password(const std::string&, const agent::Secret&) override { return ""; }

 private:
  FakeServer s_;
  std::vector<std::string>* log_;
};

class ScriptedPg : public agent::PgClient {
 public:
  std::map<std::string, FakeServer> servers;  // by hostaddr, or socket directory "*socket*"
  std::vector<agent::ConnParams> connects;
  std::vector<std::string> sql;

  agent::PingStatus ping(const agent::ConnParams&) override { return agent::PingStatus::kOk; }
  std::unique_ptr<agent::PgSession> connect(const agent::ConnParams& p,
                                            agent::PgError* e) override {
    connects.push_back(p);
    const std::string key = p.hostaddr.empty() ? "*socket*" : p.hostaddr;
    const auto it = servers.find(key);
    if (it == servers.end() || it->second.connect_error) {
      *e = it == servers.end() ? agent::PgError{"", "Connection refused"}
                               : *it->second.connect_error;
      return nullptr;
    }
    return std::make_unique<ScriptedSession>(it->second, &sql);
  }
  std::optional<agent::SystemInfo> identify_system(const agent::ConnParams&,
                                                   agent::PgError*) override {
    return std::nullopt;
  }
  std::optional<agent::PgError> ensure_physical_slot(const agent::ConnParams&, const std::string&,
                                                     bool*) override {
    return std::nullopt;
  }
  std::optional<agent::SlotState> read_physical_slot(const agent::ConnParams&, const std::string&,
                                                     agent::PgError*) override {
    return agent::SlotState{};
  }
  std::optional<agent::PgError> drop_physical_slot(const agent::ConnParams&,
                                                   const std::string&) override {
    return std::nullopt;
  }
};

inline constexpr const char* kService = "todo-db.default.svc.cluster.local";
inline constexpr const char* kPrimary = "todo-db-0.todo-db.default.svc.cluster.local";

class BackupFlow : public ::testing::Test {
 protected:
  BackupFlow() {
    config.pod.name = "todo-db-backup";
    config.pod.service = "todo-db";
    config.backup.dir = dir / "backups";
    config.backup.keep = 2;
    config.postgres.superuser_password = agent::Secret("s3cret");
    resolver.set(kService, {"10.0.0.10", "10.0.0.11", "10.0.0.12"});
    resolver.set(kPrimary, {"10.0.0.10"});
    pg.servers["10.0.0.10"] = FakeServer{false, "", std::nullopt, {{"public.todo", 3}}, {}};
    pg.servers["10.0.0.11"] = FakeServer{true, "startup", std::nullopt, {{"public.todo", 3}}, {}};
    pg.servers["10.0.0.12"] = FakeServer{true, "streaming", std::nullopt, {{"public.todo", 3}}, {}};
    // pg_dump writes its -f file; pg_restore --list accepts it.
    FakeProcessRunner::Script dump;
    dump.effect = [](const agent::ProcessSpec& spec) {
      std::ofstream(fakes::arg_after(spec, "-f")) << "PGDMP fake archive";
    };
    runner.script("pg_dump", dump);
  }

  BackupDeps deps() { return BackupDeps{resolver, pg, runner, clock, {}}; }
  std::vector<std::string> files() {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(config.backup.dir))
      out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
  }

  TempDir dir;
  agent::Config config;
  FakeResolver resolver;
  ScriptedPg pg;
  FakeProcessRunner runner;
  FakeClock clock;
  // The calendar the flows read (clock.wall_now()).
  WallTime& now = clock.wall = *parse_backup_timestamp("20261125T171500Z");
};

// The log lines written while it lives (spdlog's default logger swapped for a string sink).
class CapturedLog {
 public:
  CapturedLog() : old_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    sink->set_pattern("%l %v");
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("captured", sink));
  }
  ~CapturedLog() { spdlog::set_default_logger(old_); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> old_;
};

inline std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.find(needle) != std::string::npos) out.push_back(line);
  return out;
}

}  // namespace replagent::roles::backup_flow_test
