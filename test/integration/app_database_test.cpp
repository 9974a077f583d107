// The application's role and database (postgres.app_user, postgres.app_database) and the init
// scripts (init.scripts_dir) on a real server: init creates the role with its password and the
// database it owns, runs the scripts once in it on the new primary, and never again on a
// restart with data.
#include <filesystem>

#include "test/support/cluster.hpp"

namespace replagent::test {
namespace {

class AppDatabase : public ClusterTest {};

TEST_F(AppDatabase, AppUserLogsInToItsDatabaseAndTheScriptsRunOnce) {
  Pod& primary = pod(0);
  const std::string app_password = "app-pass-word-1";
  const auto scripts = scratch() / "initdb.d";
  std::filesystem::create_directories(scripts);
  // Names sort 01 before 02: the table exists when the row goes in. The app role owns it.
  write_file(scripts / "02-rows.sql", "INSERT INTO items (title) VALUES ('first');\n");
  write_file(scripts / "01-schema.sql",
             "CREATE TABLE items (id bigserial PRIMARY KEY, title text NOT NULL);\n"
             "ALTER TABLE items OWNER TO todo;\n");
  write_file(scripts / "notes.txt", "not a script\n");
  const Env env = {
      {"REPLAGENT_POSTGRES_APP_USER", "todo"},
      {"REPLAGENT_POSTGRES_APP_DATABASE", "todo"},
      {"REPLAGENT_POSTGRES_APP_PASSWORD_FILE", write_secret("app-password", app_password)},
      {"REPLAGENT_INIT_SCRIPTS_DIR", scripts.string()}};

  InitResult r = primary.run_init(env);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  primary.start_postgres();

  // The application's way in: TCP, its own role and password, its own database.
  const std::string conninfo =
      "host=" + primary.ip() + " port=" + std::to_string(primary.port()) + " user=todo dbname=todo";
  RunResult rows =
      primary.psql_result("SELECT title FROM items", conninfo, {{"PGPASSWORD", app_password}});
  ASSERT_EQ(rows.exit_code(), 0) << rows.err;
  EXPECT_EQ(rows.out, "first\n");
  EXPECT_EQ(primary.psql("SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_database "
                         "WHERE datname = 'todo'"),
            "todo");
  EXPECT_EQ(primary.psql("SELECT rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication "
                         "OR rolbypassrls FROM pg_roles WHERE rolname = 'todo'"),
            "f")
      << "the application's role has no privilege beyond logging in";
  RunResult wrong = primary.psql_result("SELECT 1", conninfo, {{"PGPASSWORD", "not-it"}});
  EXPECT_NE(wrong.exit_code(), 0);

  // A restart with data: init refreshes, the scripts do not run again.
  primary.stop_postgres();
  r = primary.run_init(env);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  primary.start_postgres();
  rows =
      primary.psql_result("SELECT count(*) FROM items", conninfo, {{"PGPASSWORD", app_password}});
  ASSERT_EQ(rows.exit_code(), 0) << rows.err;
  EXPECT_EQ(rows.out, "1\n") << "a script ran again on a restart";
}

TEST_F(AppDatabase, AFailingScriptFailsInitAndTheNextStartBeginsAgain) {
  Pod& primary = pod(0);
  const auto scripts = scratch() / "initdb.d";
  std::filesystem::create_directories(scripts);
  write_file(scripts / "01-schema.sql", "CREATE TABLE items (id int);\n");
  write_file(scripts / "02-bad.sql", "INSERT INTO no_such_table VALUES (1);\n");
  const Env env = {{"REPLAGENT_POSTGRES_APP_DATABASE", "todo"},
                   {"REPLAGENT_INIT_SCRIPTS_DIR", scripts.string()}};
  InitResult r = primary.run_init(env);
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("02-bad.sql"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("no_such_table"), std::string::npos) << describe(r);
  EXPECT_FALSE(primary.has_pg_version()) << "nothing kept of the failed initialisation";

  // Fixed: the next start runs initdb and every script again.
  write_file(scripts / "02-bad.sql", "INSERT INTO items VALUES (1);\n");
  r = primary.run_init(env);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  primary.start_postgres();
  RunResult rows = primary.psql_result("SELECT count(*) FROM items",
                                       "host=" + primary.socket_dir().string() +
                                           " port=" + std::to_string(primary.port()) +
                                           " user=postgres dbname=todo");
  ASSERT_EQ(rows.exit_code(), 0) << rows.err;
  EXPECT_EQ(rows.out, "1\n");
}

}  // namespace
}  // namespace replagent::test
