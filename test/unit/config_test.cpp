#include "agent/config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "agent/errors.hpp"

namespace replagent::agent {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/replagent-config-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    inputs_.default_file = dir_ / "absent.toml";
    inputs_.hostname = "host-7";
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::ofstream(p) << text;
    return p;
  }

  // The message of the AgentError load_config throws; fails the test if it does not throw.
  std::string error_of(const ConfigInputs& in) {
    try {
      load_config(in);
    } catch (const AgentError& e) {
      EXPECT_EQ(e.code(), ExitCode::kUsage);
      return e.what();
    }
    ADD_FAILURE() << "load_config did not throw";
    return "";
  }

  fs::path dir_;
  ConfigInputs inputs_;
};

TEST_F(ConfigTest, DefaultsMatchTheDesign) {
  Config c = load_config(inputs_);
  EXPECT_EQ(c.pod.name, "host-7");
  EXPECT_EQ(c.pod.service, "host");
  EXPECT_EQ(c.pod.namespace_, "default");
  EXPECT_EQ(c.postgres.port, 5432);
  EXPECT_EQ(c.init.wait_timeout, std::chrono::minutes(10));
  EXPECT_EQ(c.init.backoff_initial, std::chrono::milliseconds(200));
  EXPECT_EQ(c.sidecar.max_lag, 16'000'000u);
  EXPECT_EQ(c.sidecar.listen, "0.0.0.0:9187");
  EXPECT_EQ(c.backup.keep, 7);
  EXPECT_FALSE(c.init.max_rate.has_value());
}

TEST_F(ConfigTest, BackupDatabaseDefaultsToPostgresAndMustNotBeEmpty) {
  EXPECT_EQ(load_config(inputs_).backup.database, "postgres");
  inputs_.env = {{"REPLAGENT_BACKUP_DATABASE", "todo"}};
  EXPECT_EQ(load_config(inputs_).backup.database, "todo");
  inputs_.env = {{"REPLAGENT_BACKUP_DATABASE", ""}};
  EXPECT_NE(error_of(inputs_).find("backup.database"), std::string::npos);
}

TEST_F(ConfigTest, MaxSlotWalKeepSizeIsASizeOrUnlimited) {
  EXPECT_FALSE(load_config(inputs_).postgres.max_slot_wal_keep_size.has_value());
  inputs_.env = {{"REPLAGENT_POSTGRES_MAX_SLOT_WAL_KEEP_SIZE", "2GiB"}};
  EXPECT_EQ(load_config(inputs_).postgres.max_slot_wal_keep_size, 2ULL << 30);
  inputs_.env = {{"REPLAGENT_POSTGRES_MAX_SLOT_WAL_KEEP_SIZE", "unlimited"}};
  EXPECT_FALSE(load_config(inputs_).postgres.max_slot_wal_keep_size.has_value());
  inputs_.env = {{"REPLAGENT_POSTGRES_MAX_SLOT_WAL_KEEP_SIZE", "1MB"}};
  const std::string err = error_of(inputs_);
  EXPECT_NE(err.find("postgres.max_slot_wal_keep_size"), std::string::npos) << err;
  EXPECT_NE(err.find("16MiB"), std::string::npos) << err;
}

TEST_F(ConfigTest, MaxWalSizeIsASizeOfAtLeastTwoSegmentsOrPostgresDefault) {
  EXPECT_FALSE(load_config(inputs_).postgres.max_wal_size.has_value());
  inputs_.env = {{"REPLAGENT_POSTGRES_MAX_WAL_SIZE", "1GiB"}};
  EXPECT_EQ(load_config(inputs_).postgres.max_wal_size, 1ULL << 30);
  inputs_.env = {{"REPLAGENT_POSTGRES_MAX_WAL_SIZE", ""}};
  EXPECT_FALSE(load_config(inputs_).postgres.max_wal_size.has_value());
  inputs_.env = {{"REPLAGENT_POSTGRES_MAX_WAL_SIZE", "16MiB"}};
  const std::string err = error_of(inputs_);
  EXPECT_NE(err.find("postgres.max_wal_size"), std::string::npos) << err;
  EXPECT_NE(err.find("32MiB"), std::string::npos) << err;
}

TEST_F(ConfigTest, PrecedenceDefaultsFileEnvFlags) {
  inputs_.file = write("a.toml",
                       "[postgres]\nport = 6000\nhost = \"10.0.0.1\"\n"
                       "[init]\nwait_timeout = \"1m\"\nverify = false\n"
                       "[dns]\nservers = [\"127.0.0.53:5353\", \"127.0.0.54\"]\n");
  inputs_.env = {{"REPLAGENT_POSTGRES_PORT", "6001"}, {"POD_NAME", "todo-db-2"},
                 {"HOSTNAME", "ignored-3"}, {"PGDATA", "/data/pgdata"}};
  inputs_.flags = {{"postgres.port", "6002"}};
  Config c = load_config(inputs_);
  EXPECT_EQ(c.postgres.port, 6002);               // flag beats env beats file
  EXPECT_EQ(c.postgres.host, "10.0.0.1");         // file beats default
  EXPECT_EQ(c.init.wait_timeout, std::chrono::minutes(1));
  EXPECT_FALSE(c.init.verify);
  EXPECT_EQ(c.pod.name, "todo-db-2");             // POD_NAME beats HOSTNAME
  EXPECT_EQ(c.pod.service, "todo-db");
  EXPECT_EQ(c.postgres.data_dir, "/data/pgdata");
  ASSERT_EQ(c.dns.servers.size(), 2u);
  EXPECT_EQ(c.dns.servers[0], "127.0.0.53:5353");

  inputs_.flags.clear();
  EXPECT_EQ(load_config(inputs_).postgres.port, 6001);
  inputs_.env.erase("REPLAGENT_POSTGRES_PORT");
  EXPECT_EQ(load_config(inputs_).postgres.port, 6000);
}

TEST_F(ConfigTest, ReplagentEnvBeatsConvention) {
  inputs_.env = {{"POD_NAME", "todo-db-2"}, {"REPLAGENT_POD_NAME", "other-5"}};
  EXPECT_EQ(load_config(inputs_).pod.name, "other-5");
}

TEST_F(ConfigTest, DefaultFileIsReadWhenPresent) {
  inputs_.default_file = write("default.toml", "[backup]\nkeep = 3\n");
  EXPECT_EQ(load_config(inputs_).backup.keep, 3);
}

TEST_F(ConfigTest, UnknownKeyInFileNamesFileLineAndKey) {
  inputs_.file = write("bad.toml", "[init]\nverify = true\nwait_timout = \"1s\"\n");
  auto msg = error_of(inputs_);
  EXPECT_NE(msg.find("bad.toml:3"), std::string::npos) << msg;
}

}  // namespace
}  // namespace replagent::agent

namespace replagent::agent {
namespace {

TEST_F(ConfigTest, UnknownKeyMessageNamesKey) {
  inputs_.file = write("bad.toml", "[init]\nwait_timout = \"1s\"\n");
  auto msg = error_of(inputs_);
  EXPECT_NE(msg.find("init.wait_timout"), std::string::npos) << msg;
  EXPECT_NE(msg.find("init.wait_timeout"), std::string::npos) << "suggests known keys: " << msg;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Every unknown-key error names the closest key, what is known around it, and the reference.
TEST_F(ConfigTest, UnknownKeyErrorsPointAtTheReference) {
  struct Case {
    const char* name;
    std::function<void(ConfigInputs&)> set;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {"file, known section",
       [&](ConfigInputs& in) { in.file = write("a.toml", "[init]\nwait_timout = \"1s\"\n"); },
       {"a.toml:2", "unknown key 'init.wait_timout'", "did you mean init.wait_timeout?",
        "known keys in [init]: init.wait_timeout"}},
      {"file, misspelt section",
       [&](ConfigInputs& in) { in.file = write("b.toml", "[inti]\nwait_timeout = \"1s\"\n"); },
       {"b.toml:2", "unknown key 'inti.wait_timeout'", "did you mean init.wait_timeout?",
        "no section [inti]; sections: pod, postgres, dns, init, sidecar, backup, log"}},
      {"file, key outside a section",
       [&](ConfigInputs& in) { in.file = write("c.toml", "wait_timeout = \"1s\"\n"); },
       {"c.toml", "'wait_timeout' is not inside a [section]", "did you mean init.wait_timeout?",
        "sections: pod, postgres"}},
      {"--set, known section",
       [](ConfigInputs& in) { in.flags = {{"init.wait_timout", "1s"}}; },
       {"--set init.wait_timout: unknown key", "did you mean init.wait_timeout?",
        "known keys in [init]: init.wait_timeout"}},
      {"--set, misspelt section",
       [](ConfigInputs& in) { in.flags = {{"sidcar.max_lag", "1MB"}}; },
       {"--set sidcar.max_lag: unknown key", "did you mean sidecar.max_lag?",
        "no section [sidcar]; sections: pod, postgres, dns, init, sidecar, backup, log"}},
      {"--set, no section",
       [](ConfigInputs& in) { in.flags = {{"max_lag", "1MB"}}; },
       {"--set max_lag: unknown key", "did you mean sidecar.max_lag?",
        "a key is section.key; sections: pod"}},
  };
  for (const auto& c : cases) {
    ConfigInputs in = inputs_;
    c.set(in);
    const std::string msg = error_of(in);
    for (const auto& part : c.parts) EXPECT_TRUE(has(msg, part)) << c.name << ": " << msg;
    EXPECT_TRUE(has(msg, "`replagent config --reference` or docs/configuration.md"))
        << c.name << ": " << msg;
  }
  // In the environment it is a warning (a Service's link variables look like settings).
  ConfigInputs in = inputs_;
  in.env = {{"REPLAGENT_INIT_WAIT_TIMOUT", "1s"}};
  std::vector<std::string> warnings;
  load_config(in, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(has(warnings[0], "REPLAGENT_INIT_WAIT_TIMEOUT, init.wait_timeout")) << warnings[0];
  EXPECT_TRUE(has(warnings[0], "`replagent config --reference`")) << warnings[0];
}

// A ConfigMap mounted without subPath: --config names its directory. toml++ read it as an
// empty file, so every setting in it was ignored without a word.
TEST_F(ConfigTest, ConfigFileThatIsADirectoryNamesFlagAndPath) {
  fs::create_directory(dir_ / "configmap-volume");
  inputs_.file = (dir_ / "configmap-volume").string();
  const std::string m = error_of(inputs_);
  EXPECT_TRUE(has(m, "--config " + (dir_ / "configmap-volume").string() + " is a directory")) << m;
  EXPECT_TRUE(has(m, "configmap-volume/replagent.toml")) << m;

  inputs_.file.reset();
  inputs_.default_file = dir_ / "configmap-volume";
  EXPECT_TRUE(has(error_of(inputs_), "is a directory"));
}

// The kubelet's service-link variables for a release named replagent-postgres (Services
// replagent-postgres-rw/-ro) look like settings: a warning naming the closest key, never exit 2
// (every init and probe exited 2 before).
TEST_F(ConfigTest, UnknownSectionKeyInEnvIsAWarningNamingTheClosestKey) {
  inputs_.env = {{"REPLAGENT_POSTGRES_RW_PORT", "tcp://10.96.0.12:5432"},
                 {"REPLAGENT_POSTGRES_RW_SERVICE_HOST", "10.96.0.12"},
                 {"REPLAGENT_INIT_WAIT_TIMOUT", "1s"}};
  std::vector<std::string> warnings;
  const Config c = load_config(inputs_, &warnings);
  EXPECT_EQ(c.init.wait_timeout, std::chrono::minutes(10)) << "the misspelt key is not applied";
  ASSERT_EQ(warnings.size(), 3u);
  std::string all;
  for (const auto& w : warnings) all += w + "\n";
  EXPECT_NE(all.find("REPLAGENT_POSTGRES_RW_PORT is not a setting and is ignored (the closest "
                     "is REPLAGENT_POSTGRES_PORT, postgres.port)"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("REPLAGENT_INIT_WAIT_TIMOUT is not a setting and is ignored (the closest "
                     "is REPLAGENT_INIT_WAIT_TIMEOUT, init.wait_timeout)"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("enableServiceLinks: false"), std::string::npos) << all;
  EXPECT_NO_THROW(load_config(inputs_)) << "without a warnings list too";
}

TEST_F(ConfigTest, ForeignReplagentVariablesAreIgnored) {
  inputs_.env = {{"REPLAGENT_DEPS", "/var/cache"}};
  EXPECT_NO_THROW(load_config(inputs_));
}

TEST_F(ConfigTest, BadValuesSayWhatWasExpected) {
  struct Case {
    const char* var;
    const char* value;
    const char* expect;
  };
  const Case cases[] = {
      {"REPLAGENT_POSTGRES_PORT", "0", "integer from 1 to 65535"},
      {"REPLAGENT_POSTGRES_PORT", "abc", "integer"},
      {"REPLAGENT_INIT_WAIT_TIMEOUT", "10", "duration"},
      {"REPLAGENT_SIDECAR_MAX_LAG", "lots", "size"},
      {"REPLAGENT_INIT_VERIFY", "maybe", "true or false"},
      {"REPLAGENT_INIT_ON_FOREIGN_DATA", "delete", "refuse, reclone"},
      {"REPLAGENT_LOG_FORMAT", "xml", "text, json"},
      {"REPLAGENT_INIT_MAX_RATE", "1kB", "between"},
  };
  for (const auto& c : cases) {
    inputs_.env = {{c.var, c.value}};
    auto msg = error_of(inputs_);
    EXPECT_NE(msg.find(c.var), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.expect), std::string::npos) << msg;
  }
}

TEST_F(ConfigTest, BackoffOrderIsChecked) {
  inputs_.env = {{"REPLAGENT_INIT_BACKOFF_INITIAL", "10s"}, {"REPLAGENT_INIT_BACKOFF_MAX", "1s"}};
  EXPECT_NE(error_of(inputs_).find("init.backoff_max"), std::string::npos);
}

TEST_F(ConfigTest, TomlSyntaxErrorNamesFileAndLine) {
  inputs_.file = write("syntax.toml", "[pod]\nname = \n");
  auto msg = error_of(inputs_);
  EXPECT_NE(msg.find("syntax.toml:2"), std::string::npos) << msg;
}

TEST_F(ConfigTest, MissingConfigFileIsAnError) {
  inputs_.file = (dir_ / "nope.toml").string();
  EXPECT_NE(error_of(inputs_).find("nope.toml"), std::string::npos);
}

TEST_F(ConfigTest, PasswordsFromFilesAndEnvNeverRendered) {
  auto file = write("repl-pass", "s3cret-repl\n");
  inputs_.env = {{"POSTGRES_PASSWORD", "s3cret-super"},
                 {"REPLAGENT_POSTGRES_REPLICATION_PASSWORD_FILE", file.string()}};
  Config c = load_config(inputs_);
  EXPECT_EQ(c.postgres.superuser_password.reveal(), "s3cret-super");
  EXPECT_EQ(c.postgres.replication_password.reveal(), "s3cret-repl");  // newline stripped
  const std::string rendered = render_config(c);
  EXPECT_EQ(rendered.find("s3cret"), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("[redacted]"), std::string::npos) << rendered;
  EXPECT_EQ(fmt::format("{}", c.postgres.superuser_password), "[redacted]");
}

TEST_F(ConfigTest, PasswordInConfigFileIsRefused) {
  inputs_.file = write("pw.toml", "[postgres]\nsuperuser_password = \"x\"\n");
  auto msg = error_of(inputs_);
  EXPECT_NE(msg.find("superuser_password_file"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("\"x\""), std::string::npos) << msg;
}

// A Secret mounted without naming its key: the path is the volume's directory. It once ended
// in "unexpected error: basic_filebuf::underflow", exit 1.
TEST_F(ConfigTest, PasswordFileThatIsADirectoryNamesKeyAndPath) {
  fs::create_directory(dir_ / "secret-volume");
  inputs_.env = {{"REPLAGENT_POSTGRES_REPLICATION_PASSWORD_FILE", (dir_ / "secret-volume").string()}};
  const std::string m = error_of(inputs_);
  EXPECT_NE(m.find("postgres.replication_password_file"), std::string::npos) << m;
  EXPECT_NE(m.find("is a directory"), std::string::npos) << m;
  EXPECT_NE(m.find((dir_ / "secret-volume").string()), std::string::npos) << m;
}

TEST_F(ConfigTest, UnreadablePasswordFileNamesKeyAndPath) {
  inputs_.env = {{"REPLAGENT_POSTGRES_SUPERUSER_PASSWORD_FILE", "/nonexistent/pw"}};
  auto msg = error_of(inputs_);
  EXPECT_NE(msg.find("postgres.superuser_password_file"), std::string::npos) << msg;
  EXPECT_NE(msg.find("/nonexistent/pw"), std::string::npos) << msg;
}

TEST_F(ConfigTest, RenderedConfigParsesBackToTheSameValues) {
  inputs_.env = {{"REPLAGENT_INIT_MAX_RATE", "20MB"}, {"REPLAGENT_DNS_SERVERS", "127.0.0.2:53"}};
  Config c = load_config(inputs_);
  auto file = write("rendered.toml", render_config(c));
  // The rendered passwords are informative lines; drop them to re-read the file.
  std::ifstream in(file);
  std::string text, line;
  while (std::getline(in, line))
    if (line.find("_password ") == std::string::npos) text += line + "\n";
  ConfigInputs again;
  again.default_file = inputs_.default_file;
  again.hostname = "host-7";
  again.file = write("again.toml", text);
  Config d = load_config(again);
  EXPECT_EQ(d.init.max_rate, c.init.max_rate);
  EXPECT_EQ(d.dns.servers, c.dns.servers);
  EXPECT_EQ(render_config(d), render_config(c));
}

TEST_F(ConfigTest, FileTextIsReadInsteadOfAFile) {
  inputs_.file = "named.toml";  // absent on disk: only names the text in messages
  inputs_.file_text = "[init]\nwait_timeout = \"30s\"\n";
  EXPECT_EQ(load_config(inputs_).init.wait_timeout, std::chrono::seconds(30));
  inputs_.file_text = "[init]\nwait_timeot = \"30s\"\n";
  EXPECT_NE(error_of(inputs_).find("named.toml:2"), std::string::npos);
}

TEST_F(ConfigTest, SizesRenderExactly) {
  // format_size would print "97.7KiB", which load_config rejects (found by fuzz_config).
  inputs_.env = {{"REPLAGENT_INIT_MAX_RATE", "100001"}, {"REPLAGENT_SIDECAR_MAX_LAG", "1500000123"}};
  const std::string rendered = render_config(load_config(inputs_));
  EXPECT_NE(rendered.find("max_rate = '100001'"), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("max_lag = '1500000123'"), std::string::npos) << rendered;
}

// ---- security review items 2, 3, 4, 8, 9, 10: what reaches pg_hba, a shell, postgresql.conf

// Item 2: a role name is written into pg_hba and SQL; quotes or spaces there once made init
// write `host replication "x",all 0.0.0.0/0 trust #"`.
TEST_F(ConfigTest, RoleNamesMustBePlainIdentifiers) {
  for (const char* key : {"REPLAGENT_POSTGRES_REPLICATION_USER", "REPLAGENT_POSTGRES_SUPERUSER",
                          "REPLAGENT_POSTGRES_MONITOR_USER", "REPLAGENT_POSTGRES_BACKUP_USER"}) {
    for (const char* bad : {"x\",all 0.0.0.0/0 trust #", "Replicator", "a b", "1abc", "",
                            "r\xc3\xa9plication",
                            "a234567890123456789012345678901234567890123456789012345678901234"}) {
      SCOPED_TRACE(std::string(key) + "=" + bad);
      inputs_.env = {{key, bad}};
      if (std::string(bad).empty()) continue;  // empty env values are ignored (unset)
      const std::string m = error_of(inputs_);
      EXPECT_NE(m.find(key), std::string::npos) << m;
      EXPECT_NE(m.find("role name"), std::string::npos) << m;
    }
  }
  inputs_.env = {{"REPLAGENT_POSTGRES_REPLICATION_USER", "_stream_2"}};
  EXPECT_EQ(load_config(inputs_).postgres.replication_user, "_stream_2");
  EXPECT_TRUE(is_valid_role_name(std::string(63, 'a')));
  EXPECT_FALSE(is_valid_role_name(std::string(64, 'a')));
}

TEST_F(ConfigTest, EachRoleNeedsANameOfItsOwn) {
  inputs_.env = {{"REPLAGENT_POSTGRES_BACKUP_USER", "postgres"}};
  const std::string m = error_of(inputs_);
  EXPECT_NE(m.find("postgres.superuser and postgres.backup_user"), std::string::npos) << m;
}

// The application's role and database: off by default, names checked like the role names
// (they are written into SQL and psql's argv), a role of its own, the password read at load.
TEST_F(ConfigTest, AppUserDatabaseAndScriptsDir) {
  Config c = load_config(inputs_);
  EXPECT_EQ(c.postgres.app_user, "");
  EXPECT_EQ(c.postgres.app_database, "");
  EXPECT_EQ(c.init.scripts_dir, "");

  auto file = write("app-pass", "s3cret-app\n");
  inputs_.env = {{"REPLAGENT_POSTGRES_APP_USER", "todo"},
                 {"REPLAGENT_POSTGRES_APP_DATABASE", "todo_db"},
                 {"REPLAGENT_POSTGRES_APP_PASSWORD_FILE", file.string()},
                 {"REPLAGENT_INIT_SCRIPTS_DIR", "/etc/replagent/initdb.d"}};
  c = load_config(inputs_);
  EXPECT_EQ(c.postgres.app_user, "todo");
  EXPECT_EQ(c.postgres.app_database, "todo_db");
  EXPECT_EQ(c.postgres.app_password.reveal(), "s3cret-app");
  EXPECT_EQ(c.init.scripts_dir, "/etc/replagent/initdb.d");
  EXPECT_EQ(render_config(c).find("s3cret"), std::string::npos);

  inputs_.env = {{"REPLAGENT_POSTGRES_APP_PASSWORD", "from-env"}};
  EXPECT_EQ(load_config(inputs_).postgres.app_password.reveal(), "from-env");
  inputs_.env.clear();
  inputs_.flags = {{"postgres.app_password", "x"}};
  EXPECT_NE(error_of(inputs_).find("must not be given on the command line"), std::string::npos);

  for (const char* bad : {"Todo", "todo-db", "a b", "x\";drop", "1db"}) {
    SCOPED_TRACE(bad);
    inputs_.flags = {{"postgres.app_user", bad}};
    std::string m = error_of(inputs_);
    EXPECT_NE(m.find("postgres.app_user"), std::string::npos) << m;
    EXPECT_NE(m.find("role name"), std::string::npos) << m;
    inputs_.flags = {{"postgres.app_database", bad}};
    m = error_of(inputs_);
    EXPECT_NE(m.find("postgres.app_database"), std::string::npos) << m;
    EXPECT_NE(m.find("database name of lower-case letters"), std::string::npos) << m;
  }
  inputs_.flags = {{"postgres.app_user", "replicator"}};
  EXPECT_NE(error_of(inputs_).find("postgres.replication_user and postgres.app_user"),
            std::string::npos);
  inputs_.flags = {{"postgres.app_user", ""}, {"postgres.app_database", ""}};
  EXPECT_EQ(load_config(inputs_).postgres.app_user, "") << "empty: none";
  for (const char* key : {"postgres.app_password_file", "init.scripts_dir"}) {
    SCOPED_TRACE(key);
    inputs_.flags = {{key, "/x/$HOME"}};
    EXPECT_NE(error_of(inputs_).find(key), std::string::npos);
  }
  inputs_.flags = {{"postgres.app_password_file", "/nonexistent/app"}};
  EXPECT_NE(error_of(inputs_).find("postgres.app_password_file"), std::string::npos);
}

// Item 3: pg_ctl runs `sh -c 'exec postgres -D "<dir>" ...'`; PGDATA='.../a$(id>pwned)b'
// once ran `id`.
TEST_F(ConfigTest, PathsWithShellOrQuoteCharactersAreRefused) {
  for (const char* bad : {"/data/a$(id>pwned.txt)b/pgdata", "/data/a`id`", "/data/a\"b",
                          "/data/a'b", "/data/a\\b", "/data/a\nb"}) {
    SCOPED_TRACE(bad);
    inputs_.env = {{"PGDATA", bad}};
    std::string m = error_of(inputs_);
    EXPECT_NE(m.find("PGDATA"), std::string::npos) << m;
    inputs_.env = {{"REPLAGENT_BACKUP_DIR", bad}};
    m = error_of(inputs_);
    EXPECT_NE(m.find("backup.dir"), std::string::npos) << m;
    inputs_.env = {{"TMPDIR", bad}};
    m = error_of(inputs_);
    EXPECT_NE(m.find("TMPDIR"), std::string::npos) << m;
  }
  for (const char* key : {"postgres.bin_dir", "postgres.superuser_password_file",
                          "postgres.replication_password_file", "postgres.monitor_password_file",
                          "postgres.backup_password_file", "init.termination_log",
                          "sidecar.status_token_file"}) {
    SCOPED_TRACE(key);
    inputs_.env.clear();
    inputs_.flags = {{key, "/x/$HOME"}};
    const std::string m = error_of(inputs_);
    EXPECT_NE(m.find(key), std::string::npos) << m;
    EXPECT_NE(m.find("dollar"), std::string::npos) << m;
  }
  inputs_.flags.clear();
  inputs_.env = {{"PGDATA", "/var/lib/postgresql/data/pgdata-1.x_y"}};
  EXPECT_EQ(load_config(inputs_).postgres.data_dir, "/var/lib/postgresql/data/pgdata-1.x_y");
}

// Item 4: names end up in postgresql.conf (cluster_name) and DNS names: DNS-1123 only.
TEST_F(ConfigTest, PodAndServiceNamesAreDns1123) {
  inputs_.env = {{"POD_NAME", "db\\-0"}};
  std::string m = error_of(inputs_);
  EXPECT_NE(m.find("DNS-1123"), std::string::npos) << m;
  inputs_.env = {{"POD_NAME", "Todo-db-0"}};
  error_of(inputs_);
  inputs_.env = {{"POD_NAME", "todo-db-0"}, {"REPLAGENT_POD_SERVICE", "todo_db"}};
  m = error_of(inputs_);
  EXPECT_NE(m.find("pod.service"), std::string::npos) << m;
  inputs_.env = {{"POD_NAME", "todo-db-0"}, {"POD_NAMESPACE", "a'b"}};
  error_of(inputs_);
  inputs_.env = {{"POD_NAME", "todo-db-0"}, {"REPLAGENT_POD_CLUSTER_DOMAIN", "cluster..local"}};
  m = error_of(inputs_);
  EXPECT_NE(m.find("pod.cluster_domain"), std::string::npos) << m;
  inputs_.env = {{"POD_NAME", "todo-db-0"}, {"REPLAGENT_POD_CLUSTER_DOMAIN", "k8s.example.org"}};
  EXPECT_EQ(load_config(inputs_).pod.cluster_domain, "k8s.example.org");
  EXPECT_TRUE(is_dns1123_label(std::string(63, 'a')));
  EXPECT_FALSE(is_dns1123_label(std::string(64, 'a')));
  EXPECT_FALSE(is_dns1123_label("-a"));
  EXPECT_FALSE(is_dns1123_subdomain("a.-b"));
}

// Item 9: argv is readable by every process in the pod.
TEST_F(ConfigTest, SecretsAreRefusedOnTheCommandLine) {
  for (const char* key : {"postgres.superuser_password", "postgres.replication_password",
                          "postgres.monitor_password", "postgres.backup_password",
                          "sidecar.status_token"}) {
    SCOPED_TRACE(key);
    inputs_.flags = {{key, "hunter2"}};
    const std::string m = error_of(inputs_);
    EXPECT_NE(m.find("must not be given on the command line"), std::string::npos) << m;
    EXPECT_EQ(m.find("hunter2"), std::string::npos) << m;
  }
}

// Item 10: a duration near INT64_MAX ms overflowed later (poll_interval x 3, now() + timeout).
TEST_F(ConfigTest, DurationsAreBounded) {
  inputs_.env = {{"REPLAGENT_INIT_WAIT_TIMEOUT", "9223372036854775807ms"}};
  std::string m = error_of(inputs_);
  EXPECT_NE(m.find("at most 168h"), std::string::npos) << m;
  inputs_.env = {{"REPLAGENT_SIDECAR_POLL_INTERVAL", "2h"}};
  m = error_of(inputs_);
  EXPECT_NE(m.find("at most 1h"), std::string::npos) << m;
  inputs_.env = {{"REPLAGENT_INIT_WAIT_TIMEOUT", "168h"}, {"REPLAGENT_SIDECAR_POLL_INTERVAL", "1h"},
                 {"REPLAGENT_BACKUP_MAX_AGE", "8760h"}};
  const Config c = load_config(inputs_);
  EXPECT_EQ(c.init.wait_timeout, std::chrono::hours(168));
  EXPECT_EQ(c.backup.max_age, std::chrono::hours(8760)) << "a year of backups is allowed";
}

TEST_F(ConfigTest, AllowedNetworksAreCidrs) {
  inputs_.env = {{"REPLAGENT_POSTGRES_ALLOWED_NETWORKS", "10.0.0.0/8, fd00::/8"}};
  EXPECT_EQ(load_config(inputs_).postgres.allowed_networks,
            (std::vector<std::string>{"10.0.0.0/8", "fd00::/8"}));
  for (const char* bad : {"10.0.0.0", "10.0.0.0/33", "all", "0.0.0.0/0 trust", "::/129", ""}) {
    SCOPED_TRACE(bad);
    if (std::string(bad).empty()) continue;
    inputs_.env = {{"REPLAGENT_POSTGRES_ALLOWED_NETWORKS", bad}};
    const std::string m = error_of(inputs_);
    EXPECT_NE(m.find("postgres.allowed_networks"), std::string::npos) << m;
  }
}

// A NUL byte cut a value short where it reached a C string: inet_pton read
// "::1\0 all all trust\nhost all all all trust #/128" as ::1 (a pg_hba injection the
// hba_block fuzzer found). No setting may hold a control character.
TEST_F(ConfigTest, ControlCharactersAreRefusedInEverySetting) {
  const std::string toml = std::string("[postgres]\nallowed_networks = \"::1\\u0000 all all trust") +
                           "\\nhost all all all trust #/128\"\n";
  inputs_.file = write("nul.toml", toml);
  std::string m = error_of(inputs_);
  EXPECT_NE(m.find("control characters"), std::string::npos) << m;
  EXPECT_NE(m.find("'::1\\x00 all all trust\\x0ahost"), std::string::npos) << "shown escaped: " << m;
  inputs_.file.reset();
  inputs_.env = {{"REPLAGENT_POSTGRES_LISTEN_ADDRESSES", "*\nlisten_addresses = '0.0.0.0'"}};
  m = error_of(inputs_);
  EXPECT_NE(m.find("postgres.listen_addresses"), std::string::npos) << m;
}

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
            (std::map<std::string, std::string>{{"work_mem", "64MB"},
                                                {"max_connections", "200"},
                                                {"jit", "off"},
                                                {"random_page_cost", "1.1"},
                                                {"pg_stat_statements.max", "1000"},
                                                {"shared_preload_libraries",
                                                 "pg_stat_statements,auto_explain"}}));
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
    inputs_.file = write("o.toml", std::string("[postgres.parameters]\n") + owned.name + " = \"1\"\n");
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
      {"max_connections = \"lots\"", "postgres.parameters.max_connections: expected a plain integer"},
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
    inputs_.file = write("bad.toml", std::string("[postgres]\nhba_extra = ['local todo app md5', '") +
                                         c.line + "']\n");
    const std::string m = error_of(inputs_);
    EXPECT_NE(m.find("postgres.hba_extra entry 2"), std::string::npos) << c.line << ": " << m;
    EXPECT_NE(m.find(c.expect), std::string::npos) << c.line << ": " << m;
  }
  inputs_.file = write("nl.toml", "[postgres]\nhba_extra = [\"host all app 10.0.0.0/8 md5\\nhost all all all trust\"]\n");
  std::string m = error_of(inputs_);
  EXPECT_NE(m.find("postgres.hba_extra entry 1: has a line break"), std::string::npos) << m;
  inputs_.file = write("str.toml", "[postgres]\nhba_extra = \"host all app 10.0.0.0/8 md5\"\n");
  EXPECT_NE(error_of(inputs_).find("expected a list of strings"), std::string::npos);
  inputs_.file.reset();
  inputs_.flags = {{"postgres.hba_extra", "[\"host all app 10.0.0.0/8 md5\", \"local todo app md5\"]"}};
  EXPECT_EQ(load_config(inputs_).postgres.hba_extra.size(), 2u);
  // A role renamed to one an entry names is caught too (the check runs after every source).
  inputs_.flags.emplace_back("postgres.backup_user", "app");
  m = error_of(inputs_);
  EXPECT_NE(m.find("postgres.hba_extra entry 1"), std::string::npos) << m;
  EXPECT_NE(m.find("postgres.backup_user"), std::string::npos) << m;
}

// The rendered config loads again with pod.service left to its default (derived, empty).
TEST_F(ConfigTest, EmptyServiceMeansDerived) {
  inputs_.flags = {{"pod.service", ""}};
  inputs_.hostname = "todo-db-3";
  EXPECT_EQ(load_config(inputs_).pod.service, "todo-db");
}

// Item 8: passwords in the environment reach no child and leave the agent's environment.
TEST(SecretEnvironment, PasswordVariablesAreRecognisedAndScrubbed) {
  for (const char* name : {"POSTGRES_PASSWORD", "REPLAGENT_POSTGRES_SUPERUSER_PASSWORD",
                           "REPLAGENT_POSTGRES_REPLICATION_PASSWORD",
                           "REPLAGENT_POSTGRES_MONITOR_PASSWORD", "PGPASSWORD",
                           "REPLAGENT_SIDECAR_STATUS_TOKEN"}) {
    EXPECT_TRUE(is_secret_variable(name)) << name;
  }
  for (const char* name : {"REPLAGENT_POSTGRES_SUPERUSER_PASSWORD_FILE", "PGPASSFILE", "PGDATA",
                           "PATH", "REPLAGENT_POSTGRES_PORT"}) {
    EXPECT_FALSE(is_secret_variable(name)) << name;
  }
  ::setenv("REPLAGENT_POSTGRES_BACKUP_PASSWORD", "s3cret", 1);
  ::setenv("PGPASSWORD", "s3cret", 1);
  ::setenv("REPLAGENT_TEST_KEEP_ME", "1", 1);
  scrub_secret_environment();
  EXPECT_EQ(std::getenv("REPLAGENT_POSTGRES_BACKUP_PASSWORD"), nullptr);
  EXPECT_EQ(std::getenv("PGPASSWORD"), nullptr);
  EXPECT_NE(std::getenv("REPLAGENT_TEST_KEEP_ME"), nullptr);
  ::unsetenv("REPLAGENT_TEST_KEEP_ME");
}

}  // namespace
}  // namespace replagent::agent
