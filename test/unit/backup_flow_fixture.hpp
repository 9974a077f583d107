// The fixture of the backup flow tests (backup_flow_test.cpp, backup_safety_test.cpp,
// backup_conflict_test.cpp): a set of three scripted servers behind fake DNS, a fake pg_dump, a
// fake clock, real files in a temporary directory. Header only.
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

// A server as the backup flow sees it: its role, whether it answers, and the tables it holds.
struct ServerState {
  bool in_recovery = false;
  std::string receiver;  // pg_stat_wal_receiver.status
  std::optional<agent::PgError> connect_error;
  std::vector<TableCount> tables;
  std::vector<std::string> other_databases;  // pg_database, besides the connected one
};

// The answers to the backup flow's statements (roles/backup_source.cpp, backup.cpp,
// backup_dump.cpp), one aspect at a time, for a test that changes one of them.
inline void script_role(fakes::ScriptedServer& s, bool in_recovery, const std::string& receiver) {
  s.answer("pg_is_in_recovery", {{std::string(in_recovery ? "true" : "false"), receiver}});
}
inline void script_tables(fakes::ScriptedServer& s, const std::vector<TableCount>& tables) {
  std::vector<fakes::ScriptedServer::Row> rows;
  for (const auto& t : tables) rows.push_back({t.table, std::to_string(t.rows)});
  s.answer("query_to_xml", std::move(rows));
}
inline void script_other_databases(fakes::ScriptedServer& s,
                                   const std::vector<std::string>& databases) {
  std::vector<fakes::ScriptedServer::Row> rows;
  for (const auto& d : databases) rows.push_back({d});
  s.answer("pg_database", std::move(rows));
}
// The whole server, replacing what `s` answered before.
inline void script(fakes::ScriptedServer& s, const ServerState& state) {
  s = fakes::ScriptedServer{};
  s.connect_error = state.connect_error;
  script_other_databases(s, state.other_databases);
  script_tables(s, state.tables);
  s.answer("pg_export_snapshot", {{std::string("00000003-0000001B-1")}});
  script_role(s, state.in_recovery, state.receiver);
}

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
    script(pg.at("10.0.0.10"), ServerState{false, "", std::nullopt, {{"public.todo", 3}}, {}});
    script(pg.at("10.0.0.11"),
           ServerState{true, "startup", std::nullopt, {{"public.todo", 3}}, {}});
    script(pg.at("10.0.0.12"),
           ServerState{true, "streaming", std::nullopt, {{"public.todo", 3}}, {}});
    // Any other address, and the local socket of a restore check's temporary server.
    pg.server.connect_error = agent::PgError{"", "Connection refused"};
    // pg_dump writes its -f file; pg_restore --list accepts it.
    FakeProcessRunner::Script dump;
    dump.effect = [](const agent::ProcessSpec& spec) {
      std::ofstream(fakes::arg_after(spec, "-f")) << "PGDMP fake archive";
    };
    runner.script("pg_dump", dump);
  }

  BackupDeps deps() { return BackupDeps{resolver, pg, repl, runner, clock, {}}; }
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
  fakes::FakePgClient pg;
  fakes::FakeReplicationClient repl;  // unused by backup; the deps shape carries it
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
