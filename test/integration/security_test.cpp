// The security review's attacks, replayed against real servers: each must fail now.
//   - a database owner plants functions and operators that outrank pg_catalog's for the
//     agent's unqualified SQL (CVE-2018-1058); the backup and the restore check must run
//     none of them (they would run COPY ... TO PROGRAM as the postgres OS user);
//   - pg_hba: the superuser cannot log in over TCP, the replication role cannot open a
//     database session, the monitor and backup roles exist with their rights.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "test/support/backup_support.hpp"
#include "test/support/cluster.hpp"

namespace replagent::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class Security : public ClusterTest {
 protected:
  fs::path logs() const { return scratch() / "logs"; }
  fs::path backups() const { return scratch() / "backups"; }

  std::string socket_conninfo(Pod& p, const std::string& user, const std::string& db) {
    return "host=" + p.socket_dir().string() + " port=" + std::to_string(p.port()) +
           " user=" + user + " dbname=" + db;
  }
  std::string tcp_conninfo(Pod& p, const std::string& user, const std::string& db,
                           const std::string& extra = "") {
    return "host=" + p.ip() + " port=" + std::to_string(p.port()) + " user=" + user +
           " dbname=" + db + " connect_timeout=5" + extra;
  }
};

// What a database owner plants in the database the backup dumps. Each object, when called,
// runs a program that creates `marker` (COPY ... TO PROGRAM needs the superuser's rights at
// run time, which the caller would lend it), then does what pg_catalog's would.
std::string planted_objects(const fs::path& marker) {
  const std::string touch = "COPY (SELECT 1) TO PROGRAM ''touch " + marker.string() + "''";
  return
      // format(text, name, name) matches format('%I.%I', nspname, relname) better than
      // pg_catalog.format(text, VARIADIC "any").
      "CREATE FUNCTION public.format(text, name, name) RETURNS text LANGUAGE plpgsql AS '"
      "BEGIN " +
      touch +
      "; RETURN pg_catalog.format($1, $2::text, $3::text); END';"
      // = (\"char\", text) wins over pg_catalog's = (\"char\", \"char\") for relkind = 'r'
      // (an unknown literal resolves to the string category first).
      "CREATE FUNCTION public.char_eq_text(\"char\", text) RETURNS boolean LANGUAGE plpgsql AS '"
      "BEGIN " +
      touch +
      "; RETURN $1::text OPERATOR(pg_catalog.=) $2; END';"
      "CREATE OPERATOR public.= (LEFTARG = \"char\", RIGHTARG = text, "
      "FUNCTION = public.char_eq_text);"
      // An aggregate count(text) for the inner SELECT count(*) is no better match than
      // pg_catalog's; a count(anyelement)-shaped trap for a future count(column) query:
      "CREATE FUNCTION public.count(anyelement) RETURNS bigint LANGUAGE plpgsql AS '"
      "BEGIN " +
      touch + "; RETURN 0; END';";
}

TEST_F(Security, DatabaseOwnerCannotRunCodeThroughBackupOrRestoreCheck) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  // The application's owner: an ordinary role that owns its database (and so `public` in it).
  primary.psql("CREATE ROLE app LOGIN");
  primary.psql("CREATE DATABASE todo OWNER app");
  // Who the backup logs in as: new connections are logged after the reload.
  primary.psql("ALTER SYSTEM SET log_connections = on");
  primary.psql("SELECT pg_reload_conf()");
  const fs::path marker = scratch() / "pwned";
  const std::string as_owner = socket_conninfo(primary, "postgres", "todo");
  // Planted as the owner (SET ROLE: peer authentication maps the OS user to postgres only).
  RunResult plant = primary.psql_result(
      "SET ROLE app; CREATE TABLE items (id int); INSERT INTO items SELECT "
      "generate_series(1, 77); " +
          planted_objects(marker),
      as_owner);
  ASSERT_EQ(plant.exit_code(), 0) << plant.err;

  // The trap works: the superuser calling the agent's old, unqualified query text runs it.
  RunResult sprung = primary.psql_result(
      "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON "
      "n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'",
      as_owner);
  ASSERT_EQ(sprung.exit_code(), 0) << sprung.err;
  ASSERT_TRUE(fs::exists(marker)) << "the planted objects do not fire as the superuser: the "
                                     "test would prove nothing";
  fs::remove(marker);

  Env env = backup_env(primary, backups());
  env["REPLAGENT_BACKUP_SOURCE"] = "primary";
  env["REPLAGENT_BACKUP_DATABASE"] = "todo";
  RunResult backup = run_backup(env, {}, logs());
  ASSERT_EQ(backup.exit_code(), 0) << describe(backup);
  EXPECT_FALSE(fs::exists(marker)) << "the backup ran a planted object";
  const auto dumps = files_ending(backups(), ".dump");
  ASSERT_EQ(dumps.size(), 1u);
  EXPECT_NE(read_file(backups() / (dumps[0] + ".counts")).find("77\tpublic.items\n"),
            std::string::npos);
  // It dumped as the backup role, not the superuser.
  const std::string log = tail_file(primary.postgres_log(), 400);
  EXPECT_NE(log.find("user=replagent_backup database=todo"), std::string::npos) << log;
  EXPECT_EQ(log.find("user=postgres database=todo application_name=replagent"), std::string::npos)
      << log;

  RunResult check = run_backup(env, {"--verify-restore"}, logs());
  EXPECT_EQ(check.exit_code(), 0) << describe(check);
  EXPECT_FALSE(fs::exists(marker)) << "the restore check ran a planted object";
}

TEST_F(Security, PgHbaAdmitsEachRoleOnlyWhereItBelongs) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  const Env with_password = {{"PGPASSWORD", set_config().superuser_password}};
  // The superuser: over TCP refused even with the right password; over the socket by peer.
  RunResult tcp =
      primary.psql_result("SELECT 1", tcp_conninfo(primary, "postgres", "postgres"), with_password);
  EXPECT_NE(tcp.exit_code(), 0);
  EXPECT_NE(tcp.err.find("pg_hba.conf rejects connection"), std::string::npos) << tcp.err;
  EXPECT_EQ(primary.psql("SELECT current_user"), "postgres");

  // The replication role: no database session, even with its password.
  RunResult repl = primary.psql_result("SELECT 1", tcp_conninfo(primary, "replicator", "postgres"),
                                       {{"PGPASSWORD", set_config().replication_password}});
  EXPECT_NE(repl.exit_code(), 0);
  EXPECT_NE(repl.err.find("pg_hba.conf rejects connection"), std::string::npos) << repl.err;

  // The monitor and backup roles log in over TCP with their own passwords and hold exactly
  // their predefined roles.
  RunResult mon = primary.psql_result(
      "SELECT rolsuper, pg_has_role('replagent_monitor', 'pg_monitor', 'USAGE'), "
      "pg_has_role('replagent_monitor', 'pg_read_all_data', 'USAGE') FROM pg_roles WHERE "
      "rolname = current_user",
      tcp_conninfo(primary, "replagent_monitor", "postgres"),
      {{"PGPASSWORD", set_config().monitor_password}});
  EXPECT_EQ(mon.exit_code(), 0) << mon.err;
  EXPECT_EQ(mon.out, "f|t|f\n");
  RunResult bak = primary.psql_result(
      "SELECT rolsuper, rolbypassrls, pg_has_role('replagent_backup', 'pg_read_all_data', "
      "'USAGE'), pg_has_role('replagent_backup', 'pg_execute_server_program', 'USAGE'), "
      "pg_has_role('replagent_backup', 'pg_write_server_files', 'USAGE') FROM "
      "pg_roles WHERE rolname = current_user",
      tcp_conninfo(primary, "replagent_backup", "postgres"),
      {{"PGPASSWORD", set_config().backup_password}});
  EXPECT_EQ(bak.exit_code(), 0) << bak.err;
  EXPECT_EQ(bak.out, "f|t|t|f|f\n");
}

// A restarted primary brings the roles in step with the Secrets: a rotated monitor password
// works after the next init, the old one no longer does.
TEST_F(Security, PrimaryInitReconcilesRolePasswords) {
  Pod& primary = pod(0);
  ASSERT_NO_FATAL_FAILURE(bring_up_primary(primary));
  const std::string old_password = set_config().monitor_password;
  primary.psql("ALTER ROLE replagent_monitor NOLOGIN SUPERUSER");  // drifted by hand
  primary.stop_postgres();
  write_file(set_config().monitor_password_file, "rotated-monitor-password");
  InitResult again = primary.run_init();
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("roles in step"), std::string::npos) << again.err;
  ASSERT_NO_FATAL_FAILURE(primary.start_postgres());
  const std::string conn = tcp_conninfo(primary, "replagent_monitor", "postgres");
  EXPECT_NE(primary.psql_result("SELECT 1", conn, {{"PGPASSWORD", old_password}}).exit_code(), 0);
  RunResult now = primary.psql_result("SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
                                      conn, {{"PGPASSWORD", "rotated-monitor-password"}});
  EXPECT_EQ(now.exit_code(), 0) << now.err;
  EXPECT_EQ(now.out, "f\n") << "the hand-made SUPERUSER was taken back";
}

// Item 12: the agent holds passwords in memory; no core file, and no process of the same OS
// user, may read them. A replica's init waiting for a primary that never resolves stays up
// long enough to look at from outside.
TEST_F(Security, AgentIsNotDumpableAndWritesNoCore) {
  Pod& replica = pod(1);
  auto run = replica.start_init({{"REPLAGENT_INIT_WAIT_TIMEOUT", "20s"}});
  const std::string proc = "/proc/" + std::to_string(run->pid());
  auto core_limit = [&] {
    std::istringstream in(read_file(proc + "/limits"));
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("Max core file size", 0) != 0) continue;
      std::istringstream words(line.substr(std::string("Max core file size").size()));
      std::string soft;
      words >> soft;
      return soft;
    }
    return std::string("(no line)");
  };
  // The limit is set first thing in main; a moment after exec it must read 0.
  EXPECT_TRUE(wait_until([&] { return core_limit() == "0" || !run->process().running(); }, 5s))
      << "core file size limit: " << core_limit();
  ASSERT_TRUE(run->process().running()) << "init ended before it could be inspected";
  EXPECT_EQ(core_limit(), "0");
  // Not dumpable: /proc/<pid>/environ and mem are closed to other processes of the same user
  // (the kernel's ptrace access check); a dumpable process of one's own user is readable.
  std::ifstream environ(proc + "/environ");
  std::string first;
  const bool readable = environ.good() && std::getline(environ, first).good();
  EXPECT_FALSE(readable) << "the agent's environment is readable by its own user";
}

}  // namespace
}  // namespace replagent::test
