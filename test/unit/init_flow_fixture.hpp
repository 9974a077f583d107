#pragma once

// The fixture of the init flow tests (init_replica_clone_test.cpp, init_replica_keep_test.cpp,
// init_primary_flow_test.cpp): roles::run_init driven with fakes, no servers, no DNS, no
// sleeping. A named namespace: gtest requires one fixture type per test suite across files.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "agent/errors.hpp"
#include "agent/signals.hpp"
#include "roles/data_dir.hpp"
#include "roles/init.hpp"
#include "roles/pg_files.hpp"
#include "test/unit/fakes.hpp"

namespace replagent::roles::init_flow_test {

namespace fs = std::filesystem;

constexpr const char* kPrimaryHost = "todo-db-0.todo-db.default.svc.cluster.local";
constexpr const char* kServiceHost = "todo-db.default.svc.cluster.local";
constexpr const char* kPrimaryAddr = "10.0.0.10";
constexpr std::uint64_t kSysid = 7300000000000000001ULL;
constexpr std::uint64_t kOtherSysid = 7300000000000000002ULL;

inline std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every file under `dir` with its content, to prove "nothing was changed".
inline std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    out[fs::relative(e.path(), dir).string()] = e.is_regular_file() ? read(e.path()) : "<dir>";
  }
  return out;
}

inline bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

class InitFlow : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_.stop = stop_.token();
    pgdata_ = tmp_ / "pgdata";
    config_.pod.name = "todo-db-1";
    config_.pod.namespace_ = "default";
    config_.postgres.data_dir = pgdata_;
    config_.postgres.bin_dir = "/usr/lib/postgresql/15/bin";
    config_.postgres.replication_password = agent::Secret("s3cret:pw");
    config_.init.wait_timeout = std::chrono::seconds(60);
    config_.init.termination_log = "";
  }
  InitOutcome run() {
    return run_init(config_, InitDeps{resolver_, pg_, repl_, runner_, clock_, stop_.token()});
  }

  // The primary resolves at once, accepts connections and is cluster kSysid; pg_basebackup
  // writes a replica of it.
  void primary_is_up() {
    resolver_.set(kPrimaryHost, {kPrimaryAddr});
    repl_.set_system(kPrimaryAddr, kSysid);
    runner_.basebackup_creates(kSysid);
  }

  std::string staging() const { return staging_dir_for(pgdata_); }
  std::string run_dir() const { return run_dir_for(pgdata_); }

  fakes::TempDir tmp_;
  std::string pgdata_;
  agent::Config config_;
  fakes::FakeResolver resolver_;
  fakes::FakePgClient pg_;
  fakes::FakeReplicationClient repl_;
  fakes::FakeProcessRunner runner_;
  fakes::FakeClock clock_;
  agent::StopSource stop_;  // a test stops the flow (SIGTERM) through it
};

class InitPrimaryFlow : public InitFlow {
 protected:
  void SetUp() override {
    InitFlow::SetUp();
    config_.pod.name = "todo-db-0";
    config_.postgres.superuser_password = agent::Secret("super:pw");
  }
};

}  // namespace replagent::roles::init_flow_test
