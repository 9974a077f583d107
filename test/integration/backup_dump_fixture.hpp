// The fixture of the `replagent backup` tests on real servers (backup_dump_test.cpp,
// backup_faults_test.cpp): a scratch directory for logs and backups, pgbench, a primary with a
// first backup. Header only.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "test/support/backup_support.hpp"
#include "test/support/cluster.hpp"

// A named namespace, not an anonymous one: gtest requires the one fixture class of a test suite
// (BackupDump) to be the same type in every file that has tests of it.
namespace replagent::test::backup_dump_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class BackupDump : public ClusterTest {
 protected:
  fs::path logs() const { return scratch() / "logs"; }
  fs::path backups() const { return scratch() / "backups"; }

  void pgbench_init(Pod& p, int scale) {
    RunResult r = p.pg_tool("pgbench",
                            {"-i", "-q", "-s", std::to_string(scale), "-h", p.socket_dir().string(),
                             "-p", std::to_string(p.port()), "-U", "postgres", "postgres"},
                            {}, 300s);
    ASSERT_EQ(r.exit_code(), 0) << "pgbench -i: " << r.err;
  }
  static long long count(Pod& p, const std::string& table) {
    return std::stoll(p.psql("SELECT count(*) FROM " + table));
  }
  // A primary (also the backup source) holding a small table, and one backup of it.
  void primary_with_first_backup(const Env& env) {
    Pod& primary = pod(0);
    ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
    primary.psql(
        "CREATE TABLE todo (item text); INSERT INTO todo SELECT 'item ' || g FROM "
        "generate_series(1, 50) g");
    RunResult first = run_backup(env, {}, logs());
    ASSERT_EQ(first.exit_code(), 0) << describe(first);
  }
};

}  // namespace replagent::test::backup_dump_test
