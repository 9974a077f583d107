// The test-only readers of test/unit/pg_grammar.hpp on inputs whose meaning PostgreSQL
// documents: a round-trip through a wrong reader would prove nothing. The conninfo reader is
// also compared with libpq's own PQconninfoParse. (libpq-fe.h is included here, outside
// agent/pg.cpp, only as a test oracle.)
#include "test/unit/pg_grammar.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace replagent::test::pg_grammar {
namespace {

using Settings = std::vector<ConfSetting>;

struct ConfCase {
  const char* name;
  std::string text;
  std::optional<Settings> settings;  // nullopt: the server reports a syntax error
};

class ConfReader : public ::testing::TestWithParam<ConfCase> {};

TEST_P(ConfReader, ReadsAsPostgresDoes) {
  EXPECT_EQ(parse_conf(GetParam().text), GetParam().settings);
}

INSTANTIATE_TEST_SUITE_P(
    Grammar, ConfReader,
    ::testing::Values(ConfCase{"plain", "a = 'v'\n", Settings{{"a", "v"}}},
                      ConfCase{"doubled_quote", "a = 'it''s'", Settings{{"a", "it's"}}},
                      ConfCase{"backslash_quote", "a = 'it\\'s'", Settings{{"a", "it's"}}},
                      ConfCase{"doubled_backslash", "a = 'x\\\\y'", Settings{{"a", "x\\y"}}},
                      ConfCase{"escaped_n_is_a_newline", "a = 'x\\ny'", Settings{{"a", "x\ny"}}},
                      ConfCase{"escapes", "a = '\\b\\f\\r\\t\\q'", Settings{{"a", "\b\f\r\tq"}}},
                      ConfCase{"octal", "a = '\\101\\0612'", Settings{{"a", "A12"}}},
                      ConfCase{"octal_nul_ends_the_value", "a = 'x\\0y'", Settings{{"a", "x"}}},
                      ConfCase{"empty", "a = ''", Settings{{"a", ""}}},
                      ConfCase{"only_a_quote", "a = ''''", Settings{{"a", "'"}}},
                      ConfCase{"non_ascii", "a = 'caf\xc3\xa9'", Settings{{"a", "caf\xc3\xa9"}}},
                      ConfCase{"comment_after", "a = 'x' # y\n", Settings{{"a", "x"}}},
                      ConfCase{"hash_inside", "a = 'x # y'", Settings{{"a", "x # y"}}},
                      ConfCase{"no_equals", "a 'x'", Settings{{"a", "x"}}},
                      ConfCase{
                          "unquoted_values",
                          "port = 5433\nb = -1\nc = 1s\nd = on\ne.f = 0x1F\ng = 1.5e3\nh = a/b:c\n",
                          Settings{{"port", "5433"},
                                   {"b", "-1"},
                                   {"c", "1s"},
                                   {"d", "on"},
                                   {"e.f", "0x1F"},
                                   {"g", "1.5e3"},
                                   {"h", "a/b:c"}}},
                      ConfCase{"blank_and_comment_lines", "\n# x = 'y'\n  \t\r\na = 'b'\n\n",
                               Settings{{"a", "b"}}},
                      // What the old conf_quote wrote for a value ending in a backslash.
                      ConfCase{"backslash_before_the_end_quote", "a = 'ends\\'\n", std::nullopt},
                      ConfCase{"unterminated", "a = 'x\n", std::nullopt},
                      ConfCase{"raw_newline_inside", "a = 'x\ny'\n", std::nullopt},
                      ConfCase{"stray_quote", "a = 'x'y'\n", std::nullopt},
                      ConfCase{"two_values", "a = 'x' 'y'\n", std::nullopt},
                      ConfCase{"slash_cannot_start_a_value", "a = /x\n", std::nullopt},
                      ConfCase{"no_value", "a =\n", std::nullopt}),
    [](const auto& info) { return std::string(info.param.name); });

struct PassCase {
  const char* name;
  std::string line;
  std::optional<PassEntry> entry;
};

PassField any() { return PassField{true, ""}; }
PassField lit(std::string s) { return PassField{false, std::move(s)}; }

class PassfileReader : public ::testing::TestWithParam<PassCase> {};

TEST_P(PassfileReader, ReadsAsLibpqDoes) {
  EXPECT_EQ(parse_passfile_line(GetParam().line), GetParam().entry);
}

INSTANTIATE_TEST_SUITE_P(
    Grammar, PassfileReader,
    ::testing::Values(
        PassCase{"wildcards", "*:*:*:rep:pw\n", PassEntry{any(), any(), any(), lit("rep"), "pw"}},
        PassCase{"literals", "h:5432:db:u:pw",
                 PassEntry{lit("h"), lit("5432"), lit("db"), lit("u"), "pw"}},
        PassCase{"escaped_colons", "*:*:*:rep\\:l:a\\:b",
                 PassEntry{any(), any(), any(), lit("rep:l"), "a:b"}},
        PassCase{"escaped_backslash", "*:*:*:u:a\\\\b",
                 PassEntry{any(), any(), any(), lit("u"), "a\\b"}},
        PassCase{"crlf_stripped", "*:*:*:u:pw\r\r\n",
                 PassEntry{any(), any(), any(), lit("u"), "pw"}},
        PassCase{"cr_inside_kept", "*:*:*:u:p\rw\n",
                 PassEntry{any(), any(), any(), lit("u"), "p\rw"}},
        PassCase{"empty_password", "*:*:*:u:", PassEntry{any(), any(), any(), lit("u"), ""}},
        PassCase{"unescaped_colon_ends_password", "*:*:*:u:a:b",
                 PassEntry{any(), any(), any(), lit("u"), "a"}},
        PassCase{"trailing_backslash_kept", "*:*:*:u:a\\",
                 PassEntry{any(), any(), any(), lit("u"), "a\\"}},
        PassCase{"star_with_more_is_literal", "*x:*:*:u:p",
                 PassEntry{lit("*x"), any(), any(), lit("u"), "p"}},
        PassCase{"escaped_star_is_literal", "*:*:*:\\*:p",
                 PassEntry{any(), any(), any(), lit("*"), "p"}},
        PassCase{"comment", "#*:*:*:u:p", std::nullopt}, PassCase{"empty", "\n", std::nullopt},
        PassCase{"four_fields", "*:*:*:u", std::nullopt}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(PassfileReader, WholeFileLineByLine) {
  const auto entries = parse_passfile("# c\n*:*:*:a:1\n\n*:*:*:b:2");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].user.literal, "b");
  EXPECT_EQ(entries[1].password, "2");
}

// libpq's own reading of a connection string: keyword -> value for the keywords given.
std::optional<std::map<std::string, std::string>> libpq_parse(const std::string& conninfo) {
  char* err = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> opts(
      PQconninfoParse(conninfo.c_str(), &err), &PQconninfoFree);
  if (err) PQfreemem(err);
  if (!opts) return std::nullopt;
  std::map<std::string, std::string> out;
  for (const PQconninfoOption* o = opts.get(); o->keyword; ++o)
    if (o->val) out[o->keyword] = o->val;
  return out;
}

std::optional<std::map<std::string, std::string>> ours(const std::string& conninfo) {
  auto pairs = parse_conninfo(conninfo);
  if (!pairs) return std::nullopt;
  std::map<std::string, std::string> out;
  for (auto& [k, v] : *pairs) out[k] = v;  // the last of a repeated keyword wins, as in libpq
  return out;
}

class ConninfoReader : public ::testing::TestWithParam<std::string> {};

TEST_P(ConninfoReader, AgreesWithLibpq) {
  EXPECT_EQ(ours(GetParam()), libpq_parse(GetParam())) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Grammar, ConninfoReader,
                         ::testing::Values("host='a b' port=5432", "user='it\\'s'",
                                           "user = x  dbname\t=\ty", "options=a\\ b",
                                           "application_name='x\\\\y'", "host=''",
                                           "host=", "  host=h  ", "host='x' host='y'",
                                           "passfile='/a b/c\\'d'", "host='unterminated", "host",
                                           "host x", "host='a\nb'", "user=a'b", "user='a\\"));

TEST(ConninfoReader, Values) {
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(parse_conninfo("host='a b' user='it\\'s' x=y\\ z"),
            (Pairs{{"host", "a b"}, {"user", "it's"}, {"x", "y z"}}));
  EXPECT_EQ(parse_conninfo("host='x"), std::nullopt);
  EXPECT_EQ(parse_conninfo("host"), std::nullopt);
}

HbaToken word(std::string s) { return HbaToken{std::move(s), false}; }
HbaToken quoted(std::string s) { return HbaToken{std::move(s), true}; }

TEST(HbaReader, FieldsQuotesListsAndComments) {
  const auto lines = parse_hba(
      "# TYPE DATABASE USER ADDRESS METHOD\n"
      "local   all  all   peer   # trailing comment\n"
      "host \"all\" \"a\"\"b\",u2 10.0.0.0/8 scram-sha-256\n"
      "\n"
      "host all \"x # y\" all \\\n"
      "  reject\r\n");
  ASSERT_TRUE(lines);
  ASSERT_EQ(lines->size(), 3u);
  EXPECT_EQ((*lines)[0], (HbaLine{{word("local")}, {word("all")}, {word("all")}, {word("peer")}}));
  EXPECT_EQ((*lines)[1], (HbaLine{{word("host")},
                                  {quoted("all")},
                                  {quoted("a\"b"), word("u2")},
                                  {word("10.0.0.0/8")},
                                  {word("scram-sha-256")}}));
  EXPECT_EQ(
      (*lines)[2],
      (HbaLine{{word("host")}, {word("all")}, {quoted("x # y")}, {word("all")}, {word("reject")}}));
}

TEST(HbaReader, TokenTooLong) {
  EXPECT_TRUE(parse_hba("host all " + std::string(255, 'a') + " all md5\n"));
  EXPECT_FALSE(parse_hba("host all " + std::string(256, 'a') + " all md5\n"));
}

}  // namespace
}  // namespace replagent::test::pg_grammar
