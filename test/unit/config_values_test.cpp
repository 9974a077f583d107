// The checks of single values: names and paths that reach pg_hba, SQL, a shell or
// postgresql.conf (the security review's items), bounds, and the enum settings.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <functional>
#include <string>

#include "agent/config.hpp"
#include "agent/logging.hpp"
#include "config_fixture.hpp"

namespace replagent::agent {
namespace {

// ---- security review items 2, 3, 4, 8, 9, 10: what reaches pg_hba, a shell, postgresql.conf

// Item 2: a role name is written into pg_hba and SQL; quotes or spaces there once made init
// write `host replication "x",all 0.0.0.0/0 trust #"`.
TEST_F(ConfigTest, RoleNamesMustBePlainIdentifiers) {
  for (const char* key : {"REPLAGENT_POSTGRES_REPLICATION_USER", "REPLAGENT_POSTGRES_SUPERUSER",
                          "REPLAGENT_POSTGRES_MONITOR_USER", "REPLAGENT_POSTGRES_BACKUP_USER"}) {
    for (const char* bad :
         {"x\",all 0.0.0.0/0 trust #", "Replicator", "a b", "1abc", "", "r\xc3\xa9plication",
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
  for (const char* key :
       {"postgres.bin_dir", "postgres.superuser_password_file",
        "postgres.replication_password_file", "postgres.monitor_password_file",
        "postgres.backup_password_file", "init.termination_log", "sidecar.status_token_file"}) {
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
  for (const char* key :
       {"postgres.superuser_password", "postgres.replication_password", "postgres.monitor_password",
        "postgres.backup_password", "sidecar.status_token"}) {
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
  inputs_.env = {{"REPLAGENT_INIT_WAIT_TIMEOUT", "168h"},
                 {"REPLAGENT_SIDECAR_POLL_INTERVAL", "1h"},
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
  const std::string toml =
      std::string("[postgres]\nallowed_networks = \"::1\\u0000 all all trust") +
      "\\nhost all all all trust #/128\"\n";
  inputs_.file = write("nul.toml", toml);
  std::string m = error_of(inputs_);
  EXPECT_NE(m.find("control characters"), std::string::npos) << m;
  EXPECT_NE(m.find("'::1\\x00 all all trust\\x0ahost"), std::string::npos)
      << "shown escaped: " << m;
  inputs_.file.reset();
  inputs_.env = {{"REPLAGENT_POSTGRES_LISTEN_ADDRESSES", "*\nlisten_addresses = '0.0.0.0'"}};
  m = error_of(inputs_);
  EXPECT_NE(m.find("postgres.listen_addresses"), std::string::npos) << m;
}

// The rendered config loads again with pod.service left to its default (derived, empty).
TEST_F(ConfigTest, EmptyServiceMeansDerived) {
  inputs_.flags = {{"pod.service", ""}};
  inputs_.hostname = "todo-db-3";
  EXPECT_EQ(load_config(inputs_).pod.service, "todo-db");
}

// Item 8: passwords in the environment reach no child and leave the agent's environment.
TEST(SecretEnvironment, PasswordVariablesAreRecognisedAndScrubbed) {
  for (const char* name :
       {"POSTGRES_PASSWORD", "REPLAGENT_POSTGRES_SUPERUSER_PASSWORD",
        "REPLAGENT_POSTGRES_REPLICATION_PASSWORD", "REPLAGENT_POSTGRES_MONITOR_PASSWORD",
        "PGPASSWORD", "REPLAGENT_SIDECAR_STATUS_TOKEN"}) {
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

// ---- the enum settings: parsed once by load_config, each name to its value and back

TEST_F(ConfigTest, EnumSettingsDefaults) {
  const Config c = load_config(inputs_);
  EXPECT_EQ(c.log.format, LogFormat::kText);
  EXPECT_EQ(c.log.level, LogLevel::kInfo);
  EXPECT_EQ(c.init.on_foreign_data, OnForeignData::kRefuse);
  EXPECT_EQ(c.backup.source, BackupSourceKind::kReplica);
  EXPECT_EQ(c.backup.source_host, "");
}

TEST_F(ConfigTest, EnumSettingsTakeTheirNamesAndRenderThemBack) {
  struct Case {
    const char* key;
    const char* value;
    std::function<bool(const Config&)> holds;
  };
  const Case cases[] = {
      {"log.format", "text", [](const Config& c) { return c.log.format == LogFormat::kText; }},
      {"log.format", "json", [](const Config& c) { return c.log.format == LogFormat::kJson; }},
      {"log.level", "trace", [](const Config& c) { return c.log.level == LogLevel::kTrace; }},
      {"log.level", "debug", [](const Config& c) { return c.log.level == LogLevel::kDebug; }},
      {"log.level", "info", [](const Config& c) { return c.log.level == LogLevel::kInfo; }},
      {"log.level", "warn", [](const Config& c) { return c.log.level == LogLevel::kWarn; }},
      {"log.level", "error", [](const Config& c) { return c.log.level == LogLevel::kError; }},
      {"init.on_foreign_data", "refuse",
       [](const Config& c) { return c.init.on_foreign_data == OnForeignData::kRefuse; }},
      {"init.on_foreign_data", "reclone",
       [](const Config& c) { return c.init.on_foreign_data == OnForeignData::kReclone; }},
      {"backup.source", "replica",
       [](const Config& c) {
         return c.backup.source == BackupSourceKind::kReplica && c.backup.source_host.empty();
       }},
      {"backup.source", "primary",
       [](const Config& c) {
         return c.backup.source == BackupSourceKind::kPrimary && c.backup.source_host.empty();
       }},
      {"backup.source", "10.0.0.11",
       [](const Config& c) {
         return c.backup.source == BackupSourceKind::kHost && c.backup.source_host == "10.0.0.11";
       }},
      {"backup.source", "todo-db-1.todo-db",
       [](const Config& c) {
         return c.backup.source == BackupSourceKind::kHost &&
                c.backup.source_host == "todo-db-1.todo-db";
       }},
  };
  for (const auto& c : cases) {
    const std::string key = c.key;
    const std::string section = key.substr(0, key.find('.'));
    const std::string name = key.substr(key.find('.') + 1);
    // The same value from each source: a file, the environment, a flag.
    std::string env = "REPLAGENT_" + key;
    for (auto& ch : env) ch = ch == '.' ? '_' : static_cast<char>(std::toupper(ch));
    for (int source = 0; source < 3; ++source) {
      ConfigInputs in = inputs_;
      if (source == 0) in.file_text = "[" + section + "]\n" + name + " = \"" + c.value + "\"\n";
      if (source == 1) in.env = {{env, c.value}};
      if (source == 2) in.flags = {{key, c.value}};
      const Config config = load_config(in);
      EXPECT_TRUE(c.holds(config)) << key << " = " << c.value << " from source " << source;
      const std::string rendered = render_config(config);
      EXPECT_NE(rendered.find(name + " = '" + c.value + "'"), std::string::npos)
          << key << " = " << c.value << ": " << rendered;
    }
  }
}

TEST_F(ConfigTest, EnumSettingsRefuseOtherValuesNamingTheKeyAndTheNames) {
  struct Case {
    const char* key;
    const char* env;
    const char* value;
    const char* expected;
  };
  const Case cases[] = {
      {"log.format", "REPLAGENT_LOG_FORMAT", "xml", "one of text, json"},
      {"log.format", "REPLAGENT_LOG_FORMAT", "JSON", "one of text, json"},
      {"log.format", "REPLAGENT_LOG_FORMAT", "", "one of text, json"},
      {"log.level", "REPLAGENT_LOG_LEVEL", "verbose", "one of trace, debug, info, warn, error"},
      // spdlog's own names, which setup_logging once passed through
      {"log.level", "REPLAGENT_LOG_LEVEL", "critical", "one of trace, debug, info, warn, error"},
      {"log.level", "REPLAGENT_LOG_LEVEL", "off", "one of trace, debug, info, warn, error"},
      {"init.on_foreign_data", "REPLAGENT_INIT_ON_FOREIGN_DATA", "delete",
       "one of refuse, reclone"},
      {"init.on_foreign_data", "REPLAGENT_INIT_ON_FOREIGN_DATA", "Reclone",
       "one of refuse, reclone"},
  };
  for (const auto& c : cases) {
    ConfigInputs in = inputs_;
    in.env = {{c.env, c.value}};
    EXPECT_EQ(error_of(in), std::string("environment variable ") + c.env + ": invalid value '" +
                                c.value + "' for " + c.key + ": expected " + c.expected);
    in = inputs_;
    in.flags = {{c.key, c.value}};
    EXPECT_EQ(error_of(in), std::string("flag --set ") + c.key + ": invalid value '" + c.value +
                                "' for " + c.key + ": expected " + c.expected);
  }
}

// The log settings' names, which --log-format and --log-level take as well (agent/cli.cpp).
TEST(LogSettings, NamesParseBackToTheirValues) {
  for (const auto f : {LogFormat::kText, LogFormat::kJson})
    EXPECT_EQ(parse_log_format(to_string(f)), f) << to_string(f);
  for (const auto l :
       {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError})
    EXPECT_EQ(parse_log_level(to_string(l)), l) << to_string(l);
  for (const char* other : {"", "TEXT", "xml", "text "}) EXPECT_FALSE(parse_log_format(other));
  for (const char* other : {"", "INFO", "warning", "err", "critical", "off"})
    EXPECT_FALSE(parse_log_level(other)) << other;
}

}  // namespace
}  // namespace replagent::agent
