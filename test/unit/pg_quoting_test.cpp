// Quoting in the files init writes (roles/pg_files.hpp): every rendered value reads back, by
// PostgreSQL's rules (test/unit/pg_grammar.hpp), as exactly the value given; what cannot be
// written is refused with a usage error. Passfile lines and conninfo values are escaped.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/errors.hpp"
#include "roles/pg_files.hpp"
#include "test/unit/pg_files_fixture.hpp"
#include "test/unit/pg_grammar.hpp"

namespace replagent::roles {
namespace {

using pg_files_test::sample_info;

struct PassfileCase {
  const char* user;
  const char* password;
  const char* line;
};

class PassfileLine : public ::testing::TestWithParam<PassfileCase> {};

TEST_P(PassfileLine, EscapesColonAndBackslash) {
  const auto& c = GetParam();
  EXPECT_EQ(passfile_line(c.user, agent::Secret(c.password)), c.line);
}

INSTANTIATE_TEST_SUITE_P(
    Lines, PassfileLine,
    ::testing::Values(PassfileCase{"replicator", "s3cret", "*:*:*:replicator:s3cret\n"},
                      PassfileCase{"rep:l", "a:b", "*:*:*:rep\\:l:a\\:b\n"},
                      PassfileCase{"replicator", "back\\slash", "*:*:*:replicator:back\\\\slash\n"},
                      PassfileCase{"replicator", "x\\:y", "*:*:*:replicator:x\\\\\\:y\n"},
                      PassfileCase{"replicator", "it's \"q\"", "*:*:*:replicator:it's \"q\"\n"}));

struct QuoteCase {
  const char* value;
  const char* quoted;
};

class ConninfoQuote : public ::testing::TestWithParam<QuoteCase> {};

TEST_P(ConninfoQuote, QuotesAndEscapes) {
  EXPECT_EQ(conninfo_quote(GetParam().value), GetParam().quoted);
}

INSTANTIATE_TEST_SUITE_P(Values, ConninfoQuote,
                         ::testing::Values(QuoteCase{"", "''"}, QuoteCase{"a b", "'a b'"},
                                           QuoteCase{"it's", "'it\\'s'"},
                                           QuoteCase{"a\\b", "'a\\\\b'"},
                                           QuoteCase{"todo-db-1", "'todo-db-1'"}));

namespace grammar = test::pg_grammar;

// The value of `name` in a postgresql.conf text as the server reads it (the last setting
// wins); nullopt when the text does not parse or does not set it.
std::optional<std::string> conf_value(const std::string& text, const std::string& name) {
  const auto settings = grammar::parse_conf(text);
  if (!settings) return std::nullopt;
  std::optional<std::string> out;
  for (const auto& s : *settings)
    if (s.name == name) out = s.value;
  return out;
}

// The exit code and message of the AgentError `f` throws; kOk and "" when it throws none.
template <typename F>
std::pair<agent::ExitCode, std::string> thrown(F&& f) {
  try {
    f();
  } catch (const agent::AgentError& e) {
    return {e.code(), e.what()};
  }
  return {agent::ExitCode::kOk, ""};
}

struct ConfQuoteCase {
  const char* name;
  std::string value;
  std::string quoted;
};
void PrintTo(const ConfQuoteCase& c, std::ostream* os) { *os << c.name; }

class ConfQuote : public ::testing::TestWithParam<ConfQuoteCase> {};

TEST_P(ConfQuote, ReadsBackExactly) {
  const auto& c = GetParam();
  EXPECT_EQ(conf_quote(c.value, "test"), c.quoted);
  EXPECT_EQ(conf_value("x = " + conf_quote(c.value, "test") + "\n", "x"), c.value);
}

INSTANTIATE_TEST_SUITE_P(
    Values, ConfQuote,
    ::testing::Values(ConfQuoteCase{"plain", "todo-db-0", "'todo-db-0'"},
                      ConfQuoteCase{"empty", "", "''"}, ConfQuoteCase{"quote", "it's", "'it''s'"},
                      // The old conf_quote wrote 'a\b' (the server reads "ab") and 'db\'
                      // (unterminated: the server does not start).
                      ConfQuoteCase{"backslash", R"(a\b)", R"('a\\b')"},
                      ConfQuoteCase{"trailing_backslash", R"(db\)", R"('db\\')"},
                      ConfQuoteCase{"backslash_n_is_not_a_newline", R"(a\nb)", R"('a\\nb')"},
                      ConfQuoteCase{"backslash_quote", R"(\')", R"('\\''')"},
                      ConfQuoteCase{"octal_lookalike", R"(\101)", R"('\\101')"},
                      ConfQuoteCase{"hash_and_equals", "a # b = c", "'a # b = c'"},
                      ConfQuoteCase{"non_ascii", "caf\xc3\xa9 \xe6\x97\xa5",
                                    "'caf\xc3\xa9 \xe6\x97\xa5'"}),
    [](const auto& info) { return std::string(info.param.name); });

struct RejectCase {
  const char* name;
  std::string value;
};
void PrintTo(const RejectCase& c, std::ostream* os) { *os << c.name; }

class ConfQuoteRejects : public ::testing::TestWithParam<RejectCase> {};

TEST_P(ConfQuoteRejects, ControlCharacters) {
  const auto [code, message] =
      thrown([&] { conf_quote(GetParam().value, "cluster_name (pod.name)"); });
  EXPECT_EQ(code, agent::ExitCode::kUsage) << message;
  EXPECT_NE(message.find("cluster_name (pod.name)"), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(
    Values, ConfQuoteRejects,
    ::testing::Values(RejectCase{"newline", "db\n0"}, RejectCase{"trailing_newline", "db-0\n"},
                      RejectCase{"carriage_return", "a\rb"}, RejectCase{"tab", "a\tb"},
                      RejectCase{"nul", std::string("a\0b", 3)}, RejectCase{"del", "a\x7f"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(RenderInclude, ReadsBackAsConfigured) {
  agent::Config c;
  c.pod.name = "todo-db-1";
  c.postgres.listen_addresses = R"(10.0.0.1, it's \ here\)";
  c.postgres.max_slot_wal_keep_size = 1ULL << 30;
  const std::string inc = render_include(c);
  EXPECT_EQ(conf_value(inc, "listen_addresses"), c.postgres.listen_addresses) << inc;
  EXPECT_EQ(conf_value(inc, "cluster_name"), "todo-db-1") << inc;
  EXPECT_EQ(conf_value(inc, "port"), "5432");
  EXPECT_EQ(conf_value(inc, "max_slot_wal_keep_size"), "1024MB");
  EXPECT_EQ(conf_value(inc, "wal_receiver_status_interval"), "1s");
}

TEST(RenderInclude, ControlCharacterIsAUsageErrorNamingTheSetting) {
  agent::Config c;
  c.postgres.listen_addresses = "*\nport = 1";
  const auto [code, message] = thrown([&] { render_include(c); });
  EXPECT_EQ(code, agent::ExitCode::kUsage);
  EXPECT_NE(message.find("postgres.listen_addresses"), std::string::npos) << message;
}

TEST(StandbySettings, ConninfoReadsBackExactly) {
  PrimaryConnInfo info = sample_info();
  info.passfile = R"(/data/it's a \dir\/pgpass)";
  info.application_name = R"(a'b\c)";
  const std::string conninfo = render_primary_conninfo(info);
  const std::string conf = with_standby_settings("work_mem = '8MB'\n", conninfo, "todo_db_1");
  EXPECT_EQ(conf_value(conf, "primary_conninfo"), conninfo) << conf;
  EXPECT_EQ(conf_value(conf, "primary_slot_name"), "todo_db_1");
  EXPECT_EQ(conf_value(conf, "work_mem"), "8MB");
}

TEST(StandbySettings, NewlineInConninfoIsRefused) {
  const auto [code, message] = thrown([] { with_standby_settings("", "host='a\nb'", "s"); });
  EXPECT_EQ(code, agent::ExitCode::kUsage);
  EXPECT_NE(message.find("primary_conninfo"), std::string::npos) << message;
}

class PassfileRoundTrip : public ::testing::TestWithParam<PassfileCase> {};

TEST_P(PassfileRoundTrip, ReadsBackExactly) {
  const std::string user = GetParam().user;
  const std::string password = GetParam().password;
  const auto entries = grammar::parse_passfile(passfile_line(user, agent::Secret(password)));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_TRUE(entries[0].host.any && entries[0].port.any && entries[0].database.any);
  EXPECT_EQ(entries[0].user, (grammar::PassField{false, user}));
  EXPECT_EQ(entries[0].password, password);
}

INSTANTIATE_TEST_SUITE_P(Lines, PassfileRoundTrip,
                         ::testing::Values(PassfileCase{"replicator", "s3cret", ""},
                                           PassfileCase{"rep:l", "a:b", ""},
                                           PassfileCase{"replicator", R"(back\slash\)", ""},
                                           PassfileCase{"replicator", R"(x\:y:)", ""},
                                           PassfileCase{"replicator", R"(it's "q" #1 *)", ""},
                                           PassfileCase{"*", "*", ""},
                                           PassfileCase{"replicator", "", ""},
                                           PassfileCase{"replicator", "tab\there \xc3\xa9", ""}));

TEST(PassfileLine, StarUserIsNotAWildcard) {
  EXPECT_EQ(passfile_line("*", agent::Secret("p")), "*:*:*:\\*:p\n");
}

TEST(PassfileLine, LineBreaksAreRefusedWithoutShowingThePassword) {
  for (const std::string& password :
       {std::string("hunter2\nx"), std::string("hunter2\r"), std::string("hunter2\0x", 9)}) {
    const auto [code, message] =
        thrown([&] { passfile_line("replicator", agent::Secret(password)); });
    EXPECT_EQ(code, agent::ExitCode::kUsage);
    EXPECT_NE(message.find("replicator"), std::string::npos) << message;
    EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
  }
  EXPECT_EQ(thrown([] { passfile_line("rep\nl", agent::Secret("p")); }).first,
            agent::ExitCode::kUsage);
}

TEST(ConninfoQuote, NulIsRefused) {
  EXPECT_EQ(thrown([] { conninfo_quote(std::string("a\0b", 3)); }).first, agent::ExitCode::kUsage);
}

TEST(PrimaryConninfo, ReadsBackExactly) {
  PrimaryConnInfo info = sample_info();
  info.hostaddr = "10.0.0.10";
  info.user = "it's";
  info.passfile = R"(/a b/c\'d\)";
  info.application_name = R"(x = 'y' \)";
  const auto pairs = grammar::parse_conninfo(render_primary_conninfo(info));
  ASSERT_TRUE(pairs);
  std::map<std::string, std::string> got(pairs->begin(), pairs->end());
  EXPECT_EQ(got["host"], info.host);
  EXPECT_EQ(got["hostaddr"], info.hostaddr);
  EXPECT_EQ(got["port"], "5432");
  EXPECT_EQ(got["user"], info.user);
  EXPECT_EQ(got["passfile"], info.passfile);
  EXPECT_EQ(got["application_name"], info.application_name);
  EXPECT_EQ(got["keepalives"], "1");
}

// Turning TLS on for a running set: the interim conninfo (primary not serving TLS yet) and the
// verifying one the sidecar replaces it with differ only in their TLS part.
TEST(PrimaryConninfo, PendingTlsIsInterimPreferThenVerifyFull) {
  PrimaryConnInfo info = sample_info();
  info.ssl_root_cert = "/tls/ca's.crt";
  const std::string verifying = render_primary_conninfo(info);
  info.tls_pending = true;
  const std::string interim = render_primary_conninfo(info);
  EXPECT_EQ(interim.substr(interim.size() - 15), " sslmode=prefer") << interim;
  EXPECT_EQ(interim.find("sslrootcert"), std::string::npos) << interim;
  ASSERT_TRUE(verified_conninfo(interim, info.ssl_root_cert));
  EXPECT_EQ(*verified_conninfo(interim, info.ssl_root_cert), verifying);
  const auto pairs = grammar::parse_conninfo(*verified_conninfo(interim, info.ssl_root_cert));
  ASSERT_TRUE(pairs);
  std::map<std::string, std::string> got(pairs->begin(), pairs->end());
  EXPECT_EQ(got["sslmode"], "verify-full");
  EXPECT_EQ(got["sslrootcert"], info.ssl_root_cert);
  // Only what init wrote as interim is switched; TLS off has no pending state.
  EXPECT_FALSE(verified_conninfo(verifying, info.ssl_root_cert));
  EXPECT_FALSE(verified_conninfo("host=x sslmode=prefer user=y", info.ssl_root_cert));
  EXPECT_FALSE(verified_conninfo(interim, ""));
  info.ssl_root_cert.clear();
  EXPECT_EQ(render_primary_conninfo(info).find("sslmode"), std::string::npos);
}

// postgres.parameters: after replagent's own lines, each read back by PostgreSQL's grammar as
// exactly the configured text, whatever its type (a quoted string is read for any parameter).
TEST(RenderInclude, ParametersComeAfterReplagentsOwnAndReadBackExactly) {
  agent::Config c;
  c.pod.name = "todo-db-0";
  c.postgres.parameters = {{"work_mem", "64MB"},
                           {"max_connections", "200"},
                           {"jit", "off"},
                           {"shared_preload_libraries", "pg_stat_statements,auto_explain"},
                           {"search_path", R"("$user", public, it's \ here)"},
                           {"pg_stat_statements.max", "1000"}};
  const std::string inc = render_include(c);
  const auto settings = grammar::parse_conf(inc);
  ASSERT_TRUE(settings.has_value()) << inc;
  for (const auto& [name, value] : c.postgres.parameters)
    EXPECT_EQ(conf_value(inc, name), value) << name << " in\n" << inc;
  EXPECT_GT(inc.find("work_mem = '64MB'"), inc.find("max_slot_wal_keep_size")) << inc;
  EXPECT_EQ(conf_value(inc, "port"), "5432");
  EXPECT_EQ(settings->size(), 11u + c.postgres.parameters.size()) << inc;

  c.postgres.parameters = {{"work_mem", "64MB\nport = 1"}};
  const auto [code, message] = thrown([&] { render_include(c); });
  EXPECT_EQ(code, agent::ExitCode::kUsage);
  EXPECT_NE(message.find("postgres.parameters.work_mem"), std::string::npos) << message;
}

// load_config refuses in postgres.parameters every parameter replagent writes (a second line
// would override its own): the list must hold each name its writers write.
TEST(RenderInclude, EveryParameterReplagentWritesIsOwned) {
  agent::Config c;
  c.pod.name = "todo-db-1";
  c.postgres.max_wal_size = 1ULL << 30;
  c.postgres.max_slot_wal_keep_size = 1ULL << 30;
  auto owned = [](const std::string& name) {
    for (const auto& o : agent::owned_parameters())
      if (name == o.name) return true;
    return false;
  };
  const auto include = grammar::parse_conf(render_include(c));
  ASSERT_TRUE(include.has_value());
  const auto standby =
      grammar::parse_conf(with_standby_settings("", "host=todo-db-0", "todo_db_1"));
  ASSERT_TRUE(standby.has_value());
  for (const auto* settings : {&*include, &*standby}) {
    for (const auto& s : *settings) EXPECT_TRUE(owned(s.name)) << s.name;
  }
  EXPECT_TRUE(owned("hba_file"));
  EXPECT_TRUE(owned("include_dir"));
}

}  // namespace
}  // namespace replagent::roles
