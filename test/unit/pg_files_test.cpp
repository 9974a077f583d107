#include "roles/pg_files.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "agent/errors.hpp"
#include "test/unit/pg_grammar.hpp"

namespace replagent::roles {
namespace {

int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

TEST(RenderInclude, HasPortAndReplicationSettings) {
  agent::Config c;
  c.postgres.port = 5433;
  const std::string inc = render_include(c);
  EXPECT_NE(inc.find("\nport = 5433\n"), std::string::npos) << inc;
  EXPECT_NE(inc.find("\nlisten_addresses = '*'\n"), std::string::npos) << inc;
  EXPECT_NE(inc.find("\nwal_level = replica\n"), std::string::npos);
  EXPECT_NE(inc.find("\nhot_standby = on\n"), std::string::npos);
  EXPECT_NE(inc.find("\nmax_wal_senders = 10\n"), std::string::npos);
  EXPECT_NE(inc.find("\nmax_replication_slots = 10\n"), std::string::npos);
}

TEST(RenderInclude, ClusterNameIsThePodName) {
  agent::Config c;
  c.pod.name = "todo-db-2";
  EXPECT_NE(render_include(c).find("\ncluster_name = 'todo-db-2'\n"), std::string::npos)
      << render_include(c);
}

TEST(RenderInclude, MaxWalSizeOnlyWhenSet) {
  agent::Config c;
  EXPECT_EQ(render_include(c).find("max_wal_size"), std::string::npos) << render_include(c);
  c.postgres.max_wal_size = 128ULL << 20;
  EXPECT_NE(render_include(c).find("\nmax_wal_size = '128MB'\n"), std::string::npos)
      << render_include(c);
}

TEST(RenderInclude, SlotWalRetentionIsUnlimitedUnlessSet) {
  agent::Config c;
  EXPECT_NE(render_include(c).find("\nmax_slot_wal_keep_size = -1\n"), std::string::npos)
      << render_include(c);
  c.postgres.max_slot_wal_keep_size = 2ULL << 30;
  EXPECT_NE(render_include(c).find("\nmax_slot_wal_keep_size = '2048MB'\n"), std::string::npos)
      << render_include(c);
}

TEST(RenderInclude, QuotesListenAddresses) {
  agent::Config c;
  c.postgres.listen_addresses = "0.0.0.0, it's";
  EXPECT_NE(render_include(c).find("\nlisten_addresses = '0.0.0.0, it''s'\n"), std::string::npos)
      << render_include(c);
}

struct IncludeCase {
  const char* name;
  std::string before;
  std::string after;
};

class IncludeDirective : public ::testing::TestWithParam<IncludeCase> {};

TEST_P(IncludeDirective, IsAppendedOnce) {
  const auto& c = GetParam();
  const std::string once = with_include_directive(c.before);
  EXPECT_EQ(once, c.after);
  EXPECT_EQ(with_include_directive(once), once) << "idempotent";
}

const std::string kInclude = "include_if_exists = 'replagent.conf'  # added by replagent\n";

INSTANTIATE_TEST_SUITE_P(
    Files, IncludeDirective,
    ::testing::Values(IncludeCase{"empty", "", kInclude},
                      IncludeCase{"with_newline", "port = 5432\n", "port = 5432\n" + kInclude},
                      IncludeCase{"without_newline", "port = 5432", "port = 5432\n" + kInclude},
                      IncludeCase{"already_there", "a = 1\n" + kInclude + "b = 2\n",
                                  "a = 1\n" + kInclude + "b = 2\n"}),
    [](const auto& info) { return std::string(info.param.name); });

agent::Config hba_config(const std::string& replication_user = "replicator") {
  agent::Config c;
  c.postgres.replication_user = replication_user;
  return c;
}

TEST(HbaBlock, PutFirstBeforeForeignLines) {
  const std::string original =
      "# TYPE  DATABASE        USER            ADDRESS                 METHOD\n"
      "local   all             all                                     trust\n";
  const std::string hba = with_hba_block(original, hba_config());
  EXPECT_EQ(hba.rfind("# BEGIN replagent", 0), 0u) << "ours first: pg_hba is first-match";
  EXPECT_NE(hba.find("# END replagent\n" + original), std::string::npos) << hba;
  EXPECT_EQ(count_of(hba, "# BEGIN replagent"), 1);
  EXPECT_EQ(count_of(hba, "# END replagent"), 1);
  EXPECT_NE(hba.find("host    replication     \"replicator\"    0.0.0.0/0"), std::string::npos)
      << hba;
  EXPECT_NE(hba.find("host    replication     \"replicator\"    ::/0"), std::string::npos);
}

TEST(HbaBlock, ReplacedNotDuplicatedOnRerun) {
  const std::string original = "local all all trust\n";
  const std::string first = with_hba_block(original, hba_config());
  EXPECT_EQ(with_hba_block(first, hba_config()), first) << "idempotent";

  // A line the admin added after our block survives, and a new user replaces the old block.
  const std::string edited = first + "host sales all 10.0.0.0/8 md5\n";
  const std::string second = with_hba_block(edited, hba_config("streamer"));
  EXPECT_EQ(count_of(second, "# BEGIN replagent"), 1);
  EXPECT_EQ(count_of(second, "\"replicator\""), 0) << second;
  EXPECT_NE(second.find("local all all trust\n"), std::string::npos);
  EXPECT_NE(second.find("host sales all 10.0.0.0/8 md5\n"), std::string::npos);
}

// The rules in the order PostgreSQL reads them: {type, database, user, address, method}.
std::vector<std::vector<std::string>> hba_rules(const std::string& hba) {
  std::vector<std::vector<std::string>> out;
  std::istringstream in(hba);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string x; words >> x;) w.push_back(x);
    if (w[0] == "local") w.insert(w.begin() + 3, "");
    out.push_back(w);
  }
  return out;
}

// The method of the first rule matching a TCP connection of `user` to `db` from any address
// in `net` (the block's addresses are exactly the configured networks or "all").
std::string first_match(const std::string& hba, const std::string& type, const std::string& db,
                        const std::string& user, const std::string& net) {
  for (const auto& r : hba_rules(hba)) {
    if (r[0] != type) continue;
    const bool db_ok = r[1] == db || (r[1] == "all" && db != "replication");
    const bool user_ok = r[2] == "all" || r[2] == "\"" + user + "\"";
    const bool addr_ok = type == "local" || r[3] == "all" || r[3] == net;
    if (db_ok && user_ok && addr_ok) return r.size() > 5 ? r[4] + " " + r[5] : r[4];
  }
  return "(no match)";
}

TEST(HbaBlock, LeastPrivilegeByDefault) {
  const std::string hba = with_hba_block("local all all trust\n", hba_config());
  // Superuser: the local socket only.
  EXPECT_EQ(first_match(hba, "host", "postgres", "postgres", "0.0.0.0/0"), "reject");
  EXPECT_EQ(first_match(hba, "host", "replication", "postgres", "0.0.0.0/0"), "reject");
  EXPECT_EQ(first_match(hba, "local", "postgres", "postgres", ""), "peer map=replagent")
      << "initdb's trust line is shadowed";
  // The pod's own processes reach the server over the socket without a password: the
  // monitoring role (sidecar, probe), the superuser and the replication role (the primary's
  // sidecar: rotated passwords, slots) through the ident map; any other role is its OS user.
  EXPECT_EQ(first_match(hba, "local", "postgres", "replagent_monitor", ""), "peer map=replagent");
  EXPECT_EQ(first_match(hba, "local", "replication", "replicator", ""), "peer map=replagent");
  EXPECT_EQ(first_match(hba, "local", "replication", "postgres", ""), "peer map=replagent");
  EXPECT_EQ(first_match(hba, "local", "todo", "app", ""), "peer");
  EXPECT_EQ(first_match(hba, "local", "replication", "replagent_monitor", ""), "peer")
      << "the monitoring role cannot stream over the socket either";
  // The replication role streams and nothing else.
  EXPECT_EQ(first_match(hba, "host", "replication", "replicator", "0.0.0.0/0"), "scram-sha-256");
  EXPECT_EQ(first_match(hba, "host", "postgres", "replicator", "0.0.0.0/0"), "reject");
  EXPECT_EQ(first_match(hba, "host", "todo", "replicator", "::/0"), "reject");
  // Other roles may not stream, and log in with a password.
  EXPECT_EQ(first_match(hba, "host", "replication", "replagent_monitor", "0.0.0.0/0"), "reject");
  EXPECT_EQ(first_match(hba, "host", "todo", "app", "0.0.0.0/0"), "scram-sha-256");
  EXPECT_EQ(count_of(hba, "trust"), 1) << "only the foreign line kept after ours";
}

TEST(HbaBlock, AllowedNetworksAndSuperuserNetworkLogin) {
  agent::Config c = hba_config();
  c.postgres.allowed_networks = {"10.0.0.0/8"};
  c.postgres.superuser_network_login = true;
  const std::string hba = with_hba_block("", c);
  EXPECT_EQ(first_match(hba, "host", "postgres", "postgres", "10.0.0.0/8"), "scram-sha-256");
  EXPECT_EQ(first_match(hba, "host", "postgres", "postgres", "0.0.0.0/0"), "reject");
  EXPECT_EQ(first_match(hba, "host", "replication", "replicator", "10.0.0.0/8"), "scram-sha-256");
  EXPECT_EQ(first_match(hba, "host", "replication", "replicator", "0.0.0.0/0"), "reject");
  EXPECT_EQ(first_match(hba, "host", "todo", "app", "0.0.0.0/0"), "(no match)");
  EXPECT_EQ(count_of(hba, "0.0.0.0/0"), 0) << hba;
}

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

PrimaryConnInfo sample_info() {
  PrimaryConnInfo info;
  info.host = "todo-db-0.todo-db.default.svc.cluster.local";
  info.port = 5432;
  info.user = "replicator";
  info.passfile = "/var/lib/postgresql/data/pgdata/replagent.pgpass";
  info.application_name = "todo-db-1";
  return info;
}

TEST(PrimaryConninfo, WithoutHostaddr) {
  const std::string s = render_primary_conninfo(sample_info());
  EXPECT_EQ(s.rfind("host='todo-db-0.todo-db.default.svc.cluster.local' port=5432 "
                    "user='replicator' "
                    "passfile='/var/lib/postgresql/data/pgdata/replagent.pgpass' "
                    "application_name='todo-db-1'",
                    0),
            0u)
      << s;
  EXPECT_EQ(s.find("hostaddr"), std::string::npos) << s;
  EXPECT_NE(s.find("keepalives=1"), std::string::npos);
  EXPECT_NE(s.find("connect_timeout="), std::string::npos);
}

TEST(PrimaryConninfo, WithHostaddr) {
  auto info = sample_info();
  info.hostaddr = "10.0.0.10";
  const std::string s = render_primary_conninfo(info);
  EXPECT_NE(s.find("host='todo-db-0.todo-db.default.svc.cluster.local' hostaddr='10.0.0.10' "
                   "port=5432"),
            std::string::npos)
      << s;
}

TEST(StandbySettings, ReplaceExistingKeepOthers) {
  const std::string auto_conf =
      "# Do not edit this file manually!\n"
      "# It will be overwritten by the ALTER SYSTEM command.\n"
      "work_mem = '8MB'\n"
      "primary_conninfo = 'user=replicator passfile=''/tmp/run/pgpass'' host=10.0.0.10'\n"
      "  primary_slot_name = 'old_slot'\n"
      "log_min_messages = 'debug1'\n";
  const std::string out = with_standby_settings(auto_conf, "host='h' user='u'", "todo_db_1");
  EXPECT_EQ(out,
            "# Do not edit this file manually!\n"
            "# It will be overwritten by the ALTER SYSTEM command.\n"
            "work_mem = '8MB'\n"
            "log_min_messages = 'debug1'\n"
            "primary_conninfo = 'host=''h'' user=''u'''\n"
            "primary_slot_name = 'todo_db_1'\n");
  EXPECT_EQ(with_standby_settings(out, "host='h' user='u'", "todo_db_1"), out) << "idempotent";
}

TEST(StandbySettings, EmptyFileGetsHeader) {
  const std::string out = with_standby_settings("", "host='h'", "s");
  EXPECT_EQ(out.rfind("# Do not edit this file manually!\n", 0), 0u) << out;
  EXPECT_NE(out.find("primary_conninfo = 'host=''h'''\n"), std::string::npos) << out;
  EXPECT_NE(out.find("primary_slot_name = 's'\n"), std::string::npos);
}

// ---- Quoting: every rendered value reads back, by PostgreSQL's rules (test/unit/pg_grammar.hpp),
// as exactly the value given; what cannot be written is refused with a usage error.

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
    ::testing::Values(
        ConfQuoteCase{"plain", "todo-db-0", "'todo-db-0'"},
        ConfQuoteCase{"empty", "", "''"},
        ConfQuoteCase{"quote", "it's", "'it''s'"},
        // The old conf_quote wrote 'a\b' (the server reads "ab") and 'db\' (unterminated: the
        // server does not start).
        ConfQuoteCase{"backslash", R"(a\b)", R"('a\\b')"},
        ConfQuoteCase{"trailing_backslash", R"(db\)", R"('db\\')"},
        ConfQuoteCase{"backslash_n_is_not_a_newline", R"(a\nb)", R"('a\\nb')"},
        ConfQuoteCase{"backslash_quote", R"(\')", R"('\\''')"},
        ConfQuoteCase{"octal_lookalike", R"(\101)", R"('\\101')"},
        ConfQuoteCase{"hash_and_equals", "a # b = c", "'a # b = c'"},
        ConfQuoteCase{"non_ascii", "caf\xc3\xa9 \xe6\x97\xa5", "'caf\xc3\xa9 \xe6\x97\xa5'"}),
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

INSTANTIATE_TEST_SUITE_P(Values, ConfQuoteRejects,
                         ::testing::Values(RejectCase{"newline", "db\n0"},
                                           RejectCase{"trailing_newline", "db-0\n"},
                                           RejectCase{"carriage_return", "a\rb"},
                                           RejectCase{"tab", "a\tb"},
                                           RejectCase{"nul", std::string("a\0b", 3)},
                                           RejectCase{"del", "a\x7f"}),
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

INSTANTIATE_TEST_SUITE_P(
    Lines, PassfileRoundTrip,
    ::testing::Values(PassfileCase{"replicator", "s3cret", ""}, PassfileCase{"rep:l", "a:b", ""},
                      PassfileCase{"replicator", R"(back\slash\)", ""},
                      PassfileCase{"replicator", R"(x\:y:)", ""},
                      PassfileCase{"replicator", R"(it's "q" #1 *)", ""},
                      PassfileCase{"*", "*", ""}, PassfileCase{"replicator", "", ""},
                      PassfileCase{"replicator", "tab\there \xc3\xa9", ""}));

TEST(PassfileLine, StarUserIsNotAWildcard) {
  EXPECT_EQ(passfile_line("*", agent::Secret("p")), "*:*:*:\\*:p\n");
}

TEST(PassfileLine, LineBreaksAreRefusedWithoutShowingThePassword) {
  for (const std::string& password : {std::string("hunter2\nx"), std::string("hunter2\r"),
                                     std::string("hunter2\0x", 9)}) {
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
  EXPECT_EQ(thrown([] { conninfo_quote(std::string("a\0b", 3)); }).first,
            agent::ExitCode::kUsage);
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

TEST(IdentBlock, MapsTheServersOsUserToThePodsRoles) {
  agent::Config c = hba_config();
  const std::string foreign = "# comment\nmymap  alice  app\n";
  const std::string ident = with_ident_block(foreign, c, "postgres");
  EXPECT_EQ(ident.rfind("# BEGIN replagent", 0), 0u) << ident;
  EXPECT_NE(ident.find("# END replagent\n" + foreign), std::string::npos) << "foreign map kept";
  std::vector<std::string> lines;
  std::istringstream in(ident);
  for (std::string l; std::getline(in, l);) {
    std::istringstream w(l);
    std::string map, os, role;
    if (l.empty() || l[0] == '#' || !(w >> map >> os >> role) || map != "replagent") continue;
    EXPECT_EQ(os, "postgres");
    lines.push_back(role);
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"replagent_monitor", "postgres", "replicator"}));
  EXPECT_EQ(with_ident_block(ident, c, "postgres"), ident) << "idempotent";
  c.postgres.monitor_user = "watcher";
  EXPECT_NE(with_ident_block(ident, c, "postgres").find("watcher"), std::string::npos);
  EXPECT_EQ(count_of(with_ident_block(ident, c, "postgres"), "# BEGIN replagent"), 1);
}

TEST(IdentBlock, AnOsUserWithoutAUsableNameMapsNothing) {
  for (const std::string os : {"", "bad name", "-x", "a\nb"}) {
    const std::string ident = render_ident_block(hba_config(), os);
    EXPECT_EQ(ident.find("replagent_monitor"), std::string::npos) << os;
  }
}

TEST(IdentBlock, OsUserNameFromAPasswdFile) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("replagent-passwd-" + std::to_string(::getpid()));
  {
    std::ofstream out(path);
    out << "root:x:0:0:root:/root:/bin/bash\npostgres:x:999:999::/var/lib/postgresql:/bin/sh\n"
           "short:x\n";
  }
  EXPECT_EQ(os_user_name(999, path.string()), "postgres");
  EXPECT_EQ(os_user_name(0, path.string()), "root");
  EXPECT_EQ(os_user_name(4242, path.string()), "");
  EXPECT_EQ(os_user_name(999, "/nonexistent/passwd"), "");
  std::filesystem::remove(path);
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
  const auto standby = grammar::parse_conf(
      with_standby_settings("", "host=todo-db-0", "todo_db_1"));
  ASSERT_TRUE(standby.has_value());
  for (const auto* settings : {&*include, &*standby}) {
    for (const auto& s : *settings) EXPECT_TRUE(owned(s.name)) << s.name;
  }
  EXPECT_TRUE(owned("hba_file"));
  EXPECT_TRUE(owned("include_dir"));
}

// postgres.hba_extra: after the lines for replagent's roles and replication (so those still
// win), before the catch-all (so an extra line decides what it matches).
TEST(HbaBlock, ExtraLinesComeAfterReplagentsRolesAndBeforeTheCatchAll) {
  agent::Config c = hba_config();
  c.postgres.hba_extra = {"host all \"app\" 10.0.0.0/8 trust  ", "local todo \"app\" scram-sha-256",
                          "host all all 192.168.0.0/16 reject"};
  const std::string hba = with_hba_block("local all all trust\n", c);
  const auto rules = grammar::parse_hba(hba);
  ASSERT_TRUE(rules.has_value()) << hba;
  EXPECT_EQ(first_match(hba, "host", "todo", "app", "10.0.0.0/8"), "trust") << hba;
  EXPECT_EQ(first_match(hba, "host", "todo", "other", "0.0.0.0/0"), "scram-sha-256");
  EXPECT_EQ(first_match(hba, "local", "todo", "app", ""), "scram-sha-256");
  EXPECT_EQ(first_match(hba, "local", "postgres", "app", ""), "peer");
  EXPECT_EQ(first_match(hba, "host", "todo", "app", "192.168.0.0/16"), "reject");
  // replagent's own roles and replication are decided before any extra line.
  EXPECT_EQ(first_match(hba, "host", "postgres", "postgres", "192.168.0.0/16"), "reject");
  EXPECT_EQ(first_match(hba, "host", "replication", "replicator", "0.0.0.0/0"), "scram-sha-256");
  EXPECT_EQ(first_match(hba, "local", "postgres", "replagent_monitor", ""), "peer map=replagent");
  EXPECT_NE(hba.find("host all \"app\" 10.0.0.0/8 trust\n"), std::string::npos) << "trailing blanks cut";
  EXPECT_EQ(with_hba_block(hba, c), hba) << "idempotent";
}

}  // namespace
}  // namespace replagent::roles
