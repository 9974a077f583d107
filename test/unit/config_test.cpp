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
#include "config_fixture.hpp"

namespace replagent::agent {
namespace {

namespace fs = std::filesystem;

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
  inputs_.env = {{"REPLAGENT_POSTGRES_PORT", "6001"},
                 {"POD_NAME", "todo-db-2"},
                 {"HOSTNAME", "ignored-3"},
                 {"PGDATA", "/data/pgdata"}};
  inputs_.flags = {{"postgres.port", "6002"}};
  Config c = load_config(inputs_);
  EXPECT_EQ(c.postgres.port, 6002);        // flag beats env beats file
  EXPECT_EQ(c.postgres.host, "10.0.0.1");  // file beats default
  EXPECT_EQ(c.init.wait_timeout, std::chrono::minutes(1));
  EXPECT_FALSE(c.init.verify);
  EXPECT_EQ(c.pod.name, "todo-db-2");  // POD_NAME beats HOSTNAME
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
       [](ConfigInputs& in) {
         in.flags = {{"init.wait_timout", "1s"}};
       },
       {"--set init.wait_timout: unknown key", "did you mean init.wait_timeout?",
        "known keys in [init]: init.wait_timeout"}},
      {"--set, misspelt section",
       [](ConfigInputs& in) {
         in.flags = {{"sidcar.max_lag", "1MB"}};
       },
       {"--set sidcar.max_lag: unknown key", "did you mean sidecar.max_lag?",
        "no section [sidcar]; sections: pod, postgres, dns, init, sidecar, backup, log"}},
      {"--set, no section",
       [](ConfigInputs& in) {
         in.flags = {{"max_lag", "1MB"}};
       },
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
  inputs_.env = {
      {"REPLAGENT_POSTGRES_REPLICATION_PASSWORD_FILE", (dir_ / "secret-volume").string()}};
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
  inputs_.env = {{"REPLAGENT_INIT_MAX_RATE", "100001"},
                 {"REPLAGENT_SIDECAR_MAX_LAG", "1500000123"}};
  const std::string rendered = render_config(load_config(inputs_));
  EXPECT_NE(rendered.find("max_rate = '100001'"), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("max_lag = '1500000123'"), std::string::npos) << rendered;
}

}  // namespace
}  // namespace replagent::agent
