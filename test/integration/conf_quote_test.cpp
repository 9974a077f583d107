// What roles/pg_files writes into postgresql.conf-style files is what a real PostgreSQL 15
// reads: values with quotes, backslashes, escape look-alikes and non-ASCII bytes, written with
// conf_quote into an included file and with with_standby_settings into postgresql.auto.conf,
// come back from SHOW byte for byte; the test reader of test/unit/pg_grammar.hpp agrees with
// the server; and ALTER SYSTEM, which rewrites postgresql.auto.conf with its own escaping,
// writes our lines unchanged.
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "roles/pg_files.hpp"
#include "test/support/cluster.hpp"
#include "test/unit/pg_grammar.hpp"

namespace replagent::test {
namespace {

class ConfQuote : public ClusterTest {};

// The line of `file` setting `name`, or "".
std::string line_of(const std::filesystem::path& file, const std::string& name) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(name + " = ", 0) == 0) return line;
  return "";
}

TEST_F(ConfQuote, ServerReadsExactlyTheQuotedValues) {
  Pod& p = pod(0);
  p.initdb_by_hand();

  // cluster_name keeps printable ASCII only (PostgreSQL 15's pg_clean_ascii turns other bytes
  // into '?'), so the non-ASCII values go into custom settings, which keep any bytes.
  const std::vector<std::pair<std::string, std::string>> settings = {
      {"cluster_name", R"(it's a "db" \ with \n, \101, '' and # = \)"},
      {"replagent_test.non_ascii", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \\' \xe2\x82\xac"},
      {"replagent_test.trailing_backslash", R"(db\)"},
      {"replagent_test.quotes", "''''"},
      {"replagent_test.empty", ""},
  };
  std::string include = "# written by conf_quote_test\n";
  std::vector<pg_grammar::ConfSetting> expected;
  for (const auto& [name, value] : settings) {
    include += name + " = " + roles::conf_quote(value, name) + "\n";
    expected.push_back({name, value});
  }
  write_file(p.pgdata() / "conf_quote_test.conf", include);
  EXPECT_EQ(pg_grammar::parse_conf(include), expected) << include;
  write_file(p.pgdata() / "postgresql.conf",
             read_file(p.pgdata() / "postgresql.conf") + "include 'conf_quote_test.conf'\n");

  // primary_conninfo as a replica's init writes it (a primary ignores it, but SHOW shows it).
  roles::PrimaryConnInfo info;
  info.host = "todo-db-0.todo-db.default.svc.cluster.local";
  info.hostaddr = p.ip();
  info.port = p.port();
  info.user = "replicator";
  info.passfile = R"(/var/lib/it's a \dir\/replagent.pgpass)";
  info.application_name = R"(todo-db-1 'x' \)";
  const std::string conninfo = roles::render_primary_conninfo(info);
  const auto auto_conf = p.pgdata() / "postgresql.auto.conf";
  write_file(auto_conf, roles::with_standby_settings(read_file(auto_conf), conninfo, "todo_db_1"));

  p.start_postgres();
  for (const auto& [name, value] : settings) {
    RunResult r = p.psql_result("SHOW " + name);
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, value + "\n") << name;
  }
  EXPECT_EQ(p.psql_result("SHOW primary_conninfo").out, conninfo + "\n");
  EXPECT_EQ(p.psql_result("SHOW primary_slot_name").out, "todo_db_1\n");

  // ALTER SYSTEM parses postgresql.auto.conf and writes every line back with its own escaping
  // (escape_single_quotes_ascii): ours come out unchanged, and its new line is what conf_quote
  // writes for the same value.
  const std::string primary_conninfo_line = line_of(auto_conf, "primary_conninfo");
  ASSERT_EQ(primary_conninfo_line, "primary_conninfo = " + roles::conf_quote(conninfo, "test"));
  const std::string altered = R"(alter's \ value \n)";
  RunResult alter = p.psql_result("ALTER SYSTEM SET cluster_name = $q$" + altered + "$q$");
  ASSERT_EQ(alter.exit_code(), 0) << alter.err;
  EXPECT_EQ(line_of(auto_conf, "cluster_name"),
            "cluster_name = " + roles::conf_quote(altered, "test"));
  EXPECT_EQ(line_of(auto_conf, "primary_conninfo"), primary_conninfo_line);

  // And the server starts again on the file ALTER SYSTEM wrote.
  p.stop_postgres();
  p.start_postgres();
  EXPECT_EQ(p.psql_result("SHOW cluster_name").out, altered + "\n");
  EXPECT_EQ(p.psql_result("SHOW primary_conninfo").out, conninfo + "\n");
}

}  // namespace
}  // namespace replagent::test
