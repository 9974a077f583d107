// Passwords never leave the files and variables they were given in: not in logs, not in the
// termination message, not in `replagent config`, not in any child's command line or
// environment while it runs, and the files the agent writes are private.
#include <sys/stat.h>

#include <set>

#include "test/support/cluster.hpp"

namespace replagent::test {
namespace {

namespace fs = std::filesystem;

class Secrets : public ClusterTest {
 protected:
  // Fails the test for each password found in `text`, saying where.
  void expect_no_password(const std::string& text, const std::string& where) {
    for (const auto& pw : {set_config().superuser_password, set_config().replication_password,
                           set_config().monitor_password, set_config().backup_password}) {
      EXPECT_EQ(text.find(pw), std::string::npos) << "a password appears in " << where;
    }
  }

  // Until `run` ends, checks the command line and environment of every process using `volume`
  // (the agent's children and theirs) for a password, polling every `every`. Returns how many
  // environments could be read (a child may end between the listing and the read).
  int check_children_until_done(InitRun& run, const fs::path& volume,
                                std::chrono::milliseconds every) {
    std::set<pid_t> seen;
    int environments_read = 0;
    wait_until(
        [&] {
          for (const auto& p : processes_mentioning(volume.string())) {
            if (p.pid == run.pid() || !seen.insert(p.pid).second) continue;
            expect_no_password(p.cmdline, "the command line of " + p.comm);
            std::string environment;
            try {
              environment = read_file(fs::path("/proc") / std::to_string(p.pid) / "environ");
            } catch (const std::exception&) {
              continue;  // it ended between the listing and this read
            }
            ++environments_read;
            expect_no_password(environment, "the environment of " + p.comm);
          }
          return !run.process().running();
        },
        std::chrono::seconds(120), every);
    return environments_read;
  }

  static unsigned mode_of(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return 0;
    return st.st_mode & 07777;
  }
};

TEST_F(Secrets, NeverInLogsArgvEnvironmentOrConfigAndFilesArePrivate) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  RunResult bench =
      primary.pg_tool("pgbench",
                      {"-i", "-s", "3", "-q", "-h", primary.socket_dir().string(), "-p",
                       std::to_string(primary.port()), "-U", "postgres", "postgres"},
                      {}, std::chrono::seconds(300));
  ASSERT_EQ(bench.exit_code(), 0) << bench.err;

  // A rate-limited clone, so its children can be inspected while they run.
  Pod& replica = pod(1);
  auto run =
      replica.start_init({{"REPLAGENT_INIT_MAX_RATE", "10MB"}, {"REPLAGENT_LOG_LEVEL", "debug"}});
  const int environments_read =
      check_children_until_done(*run, replica.volume(), std::chrono::milliseconds(20));
  InitResult r = run->wait(std::chrono::seconds(5));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_GT(environments_read, 0) << "no child's environment could be read while it ran";

  expect_no_password(r.err + r.out, "the replica's init log (debug level)");
  expect_no_password(read_file(replica.termination_log()), "the termination message");
  expect_no_password(read_file(primary.termination_log()), "the primary's termination message");

  // `replagent config` with the passwords in the environment as well as in files.
  SpawnOptions opts;
  opts.argv = {REPLAGENT_BINARY, "config"};
  opts.env = replica.init_env();
  opts.env["POSTGRES_PASSWORD"] = set_config().superuser_password;
  opts.env["REPLAGENT_POSTGRES_REPLICATION_PASSWORD"] = set_config().replication_password;
  opts.stdout_path = scratch().path() / "config.out";
  opts.stderr_path = scratch().path() / "config.err";
  RunResult config = run_process(opts, std::chrono::seconds(10));
  ASSERT_EQ(config.exit_code(), 0) << config.err;
  EXPECT_NE(config.out.find("[redacted]"), std::string::npos) << config.out;
  expect_no_password(config.out + config.err, "`replagent config` output");

  // What the agent wrote: PGDATA 0700 (PostgreSQL insists), the walreceiver's passfile 0600,
  // its own config files 0600; no private run directory left behind.
  EXPECT_EQ(mode_of(replica.pgdata()), 0700u);
  EXPECT_EQ(mode_of(replica.pgdata() / "replagent.pgpass"), 0600u);
  EXPECT_EQ(mode_of(replica.pgdata() / "replagent.conf"), 0600u);
  EXPECT_EQ(mode_of(replica.pgdata() / "postgresql.auto.conf"), 0600u);
  EXPECT_EQ(mode_of(primary.pgdata() / "replagent.conf"), 0600u);
  for (const auto& entry : fs::directory_iterator(replica.volume())) {
    EXPECT_EQ(entry.path().filename(), replica.pgdata().filename())
        << "left in the volume: " << entry.path();
  }
  // The passfile holds the password, as it must for the walreceiver; nothing else does.
  EXPECT_NE(
      read_file(replica.pgdata() / "replagent.pgpass").find(set_config().replication_password),
      std::string::npos);
  expect_no_password(read_file(replica.pgdata() / "postgresql.auto.conf"), "postgresql.auto.conf");
}

// Passwords given as environment variables (the official image's POSTGRES_PASSWORD, the
// REPLAGENT_*_PASSWORD variables) stay in the agent: initdb, pg_ctl and the temporary server
// it starts never see them (they inherited the agent's whole environment before), and the
// agent drops them from its own environment once the config is loaded.
TEST_F(Secrets, EnvironmentPasswordsReachNoChild) {
  Pod& primary = pod(0);
  Env env = {{"POSTGRES_PASSWORD", set_config().superuser_password},
             {"REPLAGENT_POSTGRES_REPLICATION_PASSWORD", set_config().replication_password},
             {"REPLAGENT_POSTGRES_MONITOR_PASSWORD", set_config().monitor_password},
             {"REPLAGENT_POSTGRES_BACKUP_PASSWORD", set_config().backup_password},
             {"PGPASSWORD", set_config().superuser_password},
             {"REPLAGENT_LOG_LEVEL", "debug"}};
  for (const char* file :
       {"REPLAGENT_POSTGRES_SUPERUSER_PASSWORD_FILE",
        "REPLAGENT_POSTGRES_REPLICATION_PASSWORD_FILE", "REPLAGENT_POSTGRES_MONITOR_PASSWORD_FILE",
        "REPLAGENT_POSTGRES_BACKUP_PASSWORD_FILE"}) {
    env[file] = "";  // empty: unset, so the passwords come from the variables above
  }
  auto run = primary.start_init(env);
  const int environments_read =
      check_children_until_done(*run, primary.volume(), std::chrono::milliseconds(5));
  InitResult r = run->wait(std::chrono::seconds(5));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_GT(environments_read, 0) << "no child's environment could be read while it ran";
  expect_no_password(r.err + r.out, "the primary's init log (debug level)");
  // The passwords from the environment took effect: the monitor role logs in with its own.
  ASSERT_NO_FATAL_FAILURE(primary.start_postgres());
  RunResult mon =
      primary.psql_result("SELECT current_user",
                          "host=" + primary.ip() + " port=" + std::to_string(primary.port()) +
                              " user=replagent_monitor dbname=postgres",
                          {{"PGPASSWORD", set_config().monitor_password}});
  EXPECT_EQ(mon.exit_code(), 0) << mon.err;
}

}  // namespace
}  // namespace replagent::test
