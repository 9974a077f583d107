// postgres.parameters and postgres.hba_extra: the keys whose values are tables and lists.
#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>

#include "agent/config.hpp"
#include "config_fixture.hpp"

namespace replagent::agent {
namespace {

// [postgres.parameters]: any PostgreSQL parameter, from a file (a table), --set (one) or the
// environment (a TOML inline table), names lower-cased, values as text.
TEST_F(ConfigTest, PostgresParametersFromFileFlagsAndEnvironment) {
  inputs_.file = write("p.toml",
                       "[postgres.parameters]\n"
                       "work_mem = \"64MB\"\nmax_connections = 200\njit = false\n"
                       "random_page_cost = 1.1\n\"pg_stat_statements.max\" = 1000\n"
                       "Shared_Preload_Libraries = \"pg_stat_statements,auto_explain\"\n");
  Config c = load_config(inputs_);
  EXPECT_EQ(c.postgres.parameters,
            (std::map<std::string, std::string>{
                {"work_mem", "64MB"},
                {"max_connections", "200"},
                {"jit", "off"},
                {"random_page_cost", "1.1"},
                {"pg_stat_statements.max", "1000"},
                {"shared_preload_libraries", "pg_stat_statements,auto_explain"}}));
  inputs_.flags = {{"postgres.parameters.Work_Mem", "128MB"}};
  c = load_config(inputs_);
  EXPECT_EQ(c.postgres.parameters.at("work_mem"), "128MB");
  EXPECT_EQ(c.postgres.parameters.at("jit"), "off");
  inputs_.flags.clear();
  inputs_.env = {{"REPLAGENT_POSTGRES_PARAMETERS", "{ statement_timeout = \"5s\" }"}};
  c = load_config(inputs_);
  EXPECT_EQ(c.postgres.parameters,
            (std::map<std::string, std::string>{{"statement_timeout", "5s"}}))
      << "the environment replaces the file's table, as for every key";
  // The rendered config loads again to the same parameters (`replagent config` output).
  inputs_.env.clear();
  c = load_config(inputs_);
  ConfigInputs again;
  again.default_file = inputs_.default_file;
  again.hostname = "host-7";
  std::string text;
  std::istringstream rendered(render_config(c));
  for (std::string line; std::getline(rendered, line);)
    if (line.find("_password ") == std::string::npos) text += line + "\n";
  again.file_text = text;
  EXPECT_EQ(load_config(again).postgres.parameters, c.postgres.parameters) << text;
}

// The parameters replagent writes itself are refused (exit 2), naming the key and what to
// use instead; so are names PostgreSQL would not read, values a setting cannot hold, and
// non-integers for the parameters a replica compares with its primary.
TEST_F(ConfigTest, PostgresParametersReplagentOwnsOrCannotWriteAreRefused) {
  for (const auto& owned : owned_parameters()) {
    inputs_.file =
        write("o.toml", std::string("[postgres.parameters]\n") + owned.name + " = \"1\"\n");
    const std::string m = error_of(inputs_);
    EXPECT_NE(m.find(std::string("postgres.parameters.") + owned.name), std::string::npos) << m;
    EXPECT_NE(m.find(owned.instead), std::string::npos) << m;
    EXPECT_NE(m.find("o.toml:2"), std::string::npos) << m;
  }
  inputs_.file = write("port.toml", "[postgres.parameters]\nPort = 5433\n");
  EXPECT_NE(error_of(inputs_).find("use postgres.port"), std::string::npos);
  inputs_.file.reset();
  inputs_.flags = {{"postgres.parameters.listen_addresses", "*"}};
  std::string m = error_of(inputs_);
  EXPECT_NE(m.find("--set postgres.parameters.listen_addresses"), std::string::npos) << m;
  EXPECT_NE(m.find("use postgres.listen_addresses"), std::string::npos) << m;
  inputs_.flags.clear();

  struct Case {
    const char* toml;
    const char* expect;
  };
  const Case cases[] = {
      {"\"1abc\" = \"x\"", "postgres.parameters.1abc: not a PostgreSQL parameter name"},
      {"\"a-b\" = \"x\"", "postgres.parameters.a-b: not a PostgreSQL parameter name"},
      {"\"a.b.c\" = \"x\"", "not a PostgreSQL parameter name"},
      {"\"a b\" = \"x\"", "not a PostgreSQL parameter name"},
      {"work_mem = \"1MB\\nport = 1\"", "postgres.parameters.work_mem: the value has a control"},
      {"work_mem = [\"1MB\"]", "postgres.parameters.work_mem: expected a string, integer"},
      {"work_mem = { a = 1 }", "postgres.parameters.work_mem: expected a string, integer"},
      {"max_connections = \"lots\"",
       "postgres.parameters.max_connections: expected a plain integer"},
      {"max_locks_per_transaction = \"64kB\"", "expected a plain integer"},
      {"max_worker_processes = -1", "expected a plain integer"},
      {"work_mem = \"1MB\"\nWORK_MEM = \"2MB\"", "work_mem is set twice"},
  };
  for (const auto& c : cases) {
    inputs_.file = write("bad.toml", std::string("[postgres.parameters]\n") + c.toml + "\n");
    m = error_of(inputs_);
    EXPECT_NE(m.find(c.expect), std::string::npos) << c.toml << ": " << m;
  }
  inputs_.file = write("bad.toml", "[postgres]\nparameters = \"work_mem=1MB\"\n");
  EXPECT_NE(error_of(inputs_).find("expected a table of PostgreSQL parameters"), std::string::npos);
  inputs_.file.reset();
  inputs_.env = {{"REPLAGENT_POSTGRES_PARAMETERS", "{ work_mem = \"1MB\" } [pod] name = \"x\""}};
  m = error_of(inputs_);
  EXPECT_NE(m.find("REPLAGENT_POSTGRES_PARAMETERS"), std::string::npos) << m;
  EXPECT_NE(m.find("TOML inline table"), std::string::npos) << m;
}

// postgres.hba_extra: each entry one pg_hba record that cannot change how replagent's roles
// or replication log in; refused entries are named with the reason.
TEST_F(ConfigTest, HbaExtraEntriesAreCheckedOneRecordEach) {
  const char* accepted[] = {
      "host all app 10.0.0.0/8 scram-sha-256",
      "hostssl todo,reports app,+readers 10.0.0.0/8 cert clientcert=verify-full",
      "host todo app 10.1.2.3 255.255.255.255 md5",
      "local todo app scram-sha-256   # the app over the socket",
      "host\tall\t\"some role\"\t::1/128\tscram-sha-256",
      "host all app 10.0.0.0/8 trust",
      "host all all 192.168.0.0/16 reject",
  };
  for (const char* line : accepted) {
    inputs_.file = write("ok.toml", std::string("[postgres]\nhba_extra = ['") + line + "']\n");
    Config c = load_config(inputs_);
    EXPECT_EQ(c.postgres.hba_extra, std::vector<std::string>{line});
  }
  struct Case {
    const char* line;
    const char* expect;
  };
  const Case refused[] = {
      {"include other.conf", "include directive"},
      {"include_dir conf.d", "include directive"},
      {"hostx all all 10.0.0.0/8 md5", "connection type"},
      {"\"host\" all all 10.0.0.0/8 md5", "connection type"},
      {"# just a comment", "no record"},
      {"", "no record"},
      {"host all app 10.0.0.0/8 md5 \\", "backslash"},
      {"host all @users 10.0.0.0/8 md5", "read names from a file"},
      {"host all app 10.0.0.0/8", "a host record needs"},
      {"host all app 10.0.0.0/8 scram", "unknown authentication method"},
      {"host all app 10.1.2.3 md5", "and a netmask for an address without /prefix"},
      {"local all app", "needs a database, a user and a method"},
      {"host all \"app 10.0.0.0/8 md5", "not closed"},
      {"host replication app 10.0.0.0/8 md5", "replication connections"},
      {"host all postgres 10.0.0.0/8 md5", "postgres.superuser"},
      {"host all app,replicator 10.0.0.0/8 md5", "postgres.replication_user"},
      {"local all \"replagent_monitor\" trust", "postgres.monitor_user"},
      {"host all replagent_backup 10.0.0.0/8 md5", "postgres.backup_user"},
      {"host all all 10.0.0.0/8 trust", "trust for all users"},
  };
  for (const auto& c : refused) {
    inputs_.file =
        write("bad.toml",
              std::string("[postgres]\nhba_extra = ['local todo app md5', '") + c.line + "']\n");
    const std::string m = error_of(inputs_);
    EXPECT_NE(m.find("postgres.hba_extra entry 2"), std::string::npos) << c.line << ": " << m;
    EXPECT_NE(m.find(c.expect), std::string::npos) << c.line << ": " << m;
  }
  inputs_.file =
      write("nl.toml",
            "[postgres]\nhba_extra = [\"host all app 10.0.0.0/8 md5\\nhost all all all trust\"]\n");
  std::string m = error_of(inputs_);
  EXPECT_NE(m.find("postgres.hba_extra entry 1: has a line break"), std::string::npos) << m;
  inputs_.file = write("str.toml", "[postgres]\nhba_extra = \"host all app 10.0.0.0/8 md5\"\n");
  EXPECT_NE(error_of(inputs_).find("expected a list of strings"), std::string::npos);
  inputs_.file.reset();
  inputs_.flags = {
      {"postgres.hba_extra", "[\"host all app 10.0.0.0/8 md5\", \"local todo app md5\"]"}};
  EXPECT_EQ(load_config(inputs_).postgres.hba_extra.size(), 2u);
  // A role renamed to one an entry names is caught too (the check runs after every source).
  inputs_.flags.emplace_back("postgres.backup_user", "app");
  m = error_of(inputs_);
  EXPECT_NE(m.find("postgres.hba_extra entry 1"), std::string::npos) << m;
  EXPECT_NE(m.find("postgres.backup_user"), std::string::npos) << m;
}

}  // namespace
}  // namespace replagent::agent
