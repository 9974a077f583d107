#include "agent/cli.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "agent/cmd/commands.hpp"
#include "agent/config.hpp"
#include "agent/errors.hpp"
#include "agent/logging.hpp"
#include "probes/probe.hpp"

namespace replagent::agent {
namespace {

using Args = std::vector<std::string>;

// The parser and help with the binary's own command table (agent/cmd/commands.cpp).
CommandLine parse_command_line(const Args& args) {
  return agent::parse_command_line(args, cmd::commands());
}
std::string help_text(const std::string& command) {
  return agent::help_text(command, cmd::commands());
}

// The message of the usage error parse_command_line throws; fails the test if it does not.
std::string usage_error_of(const Args& args) {
  try {
    parse_command_line(args);
  } catch (const AgentError& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    return e.what();
  }
  ADD_FAILURE() << "no usage error";
  return "";
}

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

TEST(ParseCommandLine, Empty) {
  const auto cl = parse_command_line({});
  EXPECT_EQ(cl.command, "");
  EXPECT_FALSE(cl.help);
  EXPECT_TRUE(cl.positional.empty());
}

TEST(ParseCommandLine, GlobalFlagsBeforeTheCommand) {
  const auto cl = parse_command_line(
      {"--config", "/etc/r.toml", "--log-format", "json", "--log-level", "debug", "init"});
  EXPECT_EQ(cl.command, "init");
  EXPECT_EQ(cl.config_file, "/etc/r.toml");
  EXPECT_EQ(cl.log_format, LogFormat::kJson);
  EXPECT_EQ(cl.log_level, LogLevel::kDebug);
}

TEST(ParseCommandLine, GlobalFlagsAfterTheCommand) {
  const auto cl = parse_command_line(
      {"init", "--config", "/etc/r.toml", "--log-format", "text", "--log-level", "warn"});
  EXPECT_EQ(cl.command, "init");
  EXPECT_EQ(cl.config_file, "/etc/r.toml");
  EXPECT_EQ(cl.log_format, LogFormat::kText);
  EXPECT_EQ(cl.log_level, LogLevel::kWarn);
}

TEST(ParseCommandLine, EqualsForm) {
  const auto cl = parse_command_line({"--log-format=json", "probe", "ready", "--max-lag=16MB",
                                      "--config=/a=b.toml", "--set=init.verify=false"});
  EXPECT_EQ(cl.command, "probe");
  EXPECT_EQ(cl.positional, Args{"ready"});
  EXPECT_EQ(cl.log_format, LogFormat::kJson);
  EXPECT_EQ(cl.options.at("max-lag"), "16MB");
  EXPECT_EQ(cl.config_file, "/a=b.toml") << "split at the first '=' only";
  ASSERT_EQ(cl.sets.size(), 1u);
  EXPECT_EQ(cl.sets[0].first, "init.verify");
  EXPECT_EQ(cl.sets[0].second, "false");
}

TEST(ParseCommandLine, SetsKeepOrderAndSplitAtFirstEquals) {
  const auto cl = parse_command_line(
      {"--set", "init.wait_timeout=5m", "config", "--set", "pod.name=todo-db-1", "--set",
       "postgres.listen_addresses=a=b", "--set", "init.termination_log="});
  EXPECT_EQ(cl.command, "config");
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"init.wait_timeout", "5m"},
      {"pod.name", "todo-db-1"},
      {"postgres.listen_addresses", "a=b"},
      {"init.termination_log", ""}};
  EXPECT_EQ(cl.sets, expected);
}

struct ErrorCase {
  const char* name;
  Args args;
  std::vector<std::string> message_contains;
};

class ParseCommandLineErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ParseCommandLineErrors, NameTheProblem) {
  const auto& c = GetParam();
  const std::string msg = usage_error_of(c.args);
  for (const auto& s : c.message_contains) EXPECT_TRUE(contains(msg, s)) << msg;
  EXPECT_FALSE(contains(msg, "\n")) << "one line: " << msg;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseCommandLineErrors,
    ::testing::Values(
        ErrorCase{"set_without_equals",
                  {"--set", "init.verify", "init"},
                  {"--set init.verify", "KEY=VALUE"}},
        ErrorCase{"set_empty_key", {"init", "--set", "=x"}, {"KEY=VALUE"}},
        ErrorCase{"set_without_value", {"init", "--set"}, {"--set needs a value"}},
        ErrorCase{
            "set_followed_by_flag", {"--set", "--log-format", "json"}, {"--set needs a value"}},
        ErrorCase{"config_without_value", {"init", "--config"}, {"--config needs a value"}},
        ErrorCase{"bad_log_format", {"--log-format", "xml", "init"}, {"xml", "text or json"}},
        ErrorCase{"bad_log_level", {"init", "--log-level=loud"}, {"loud", "trace"}},
        ErrorCase{"unknown_command", {"initialise"}, {"unknown command 'initialise'", "init"}},
        ErrorCase{"unknown_flag_for_command",
                  {"init", "--verbose"},
                  {"unknown flag --verbose for 'init'", "replagent init --help"}},
        ErrorCase{"unknown_flag_before_command", {"--verbose", "init"}, {"unknown flag --verbose"}},
        ErrorCase{
            "max_lag_is_probe_only", {"sidecar", "--max-lag", "1MB"}, {"--max-lag", "'sidecar'"}},
        ErrorCase{"max_lag_before_command",
                  {"--max-lag", "1MB", "probe", "ready"},
                  {"unknown flag --max-lag"}},
        ErrorCase{
            "max_lag_without_value", {"probe", "ready", "--max-lag"}, {"--max-lag needs a value"}},
        // One line naming what is missing and what it may be, not the whole help text.
        ErrorCase{"probe_without_kind",
                  {"probe"},
                  {"replagent probe needs KIND: ready, live, primary or replica",
                   "`replagent probe ready`", "see `replagent probe --help`"}},
        ErrorCase{"probe_with_two_kinds",
                  {"probe", "ready", "live"},
                  {"replagent probe takes one KIND", "got 2: 'ready', 'live'"}},
        ErrorCase{"install_without_dir",
                  {"install"},
                  {"replagent install needs DIR", "`replagent install /replagent/bin`"}},
        ErrorCase{"init_with_positional",
                  {"init", "now"},
                  {"replagent init takes no arguments, got 'now'"}},
        ErrorCase{"unknown_command_lists_every_command",
                  {"initialise"},
                  {"init, sidecar, probe, promote, backup, install, config, version"}},
        ErrorCase{
            "reference_is_a_config_flag", {"init", "--reference"}, {"unknown flag --reference"}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ParseCommandLine, ProbeWithKindAndOptions) {
  const auto cl = parse_command_line({"probe", "replica", "--max-lag", "1MB", "--timeout", "2s"});
  EXPECT_EQ(cl.command, "probe");
  EXPECT_EQ(cl.positional, Args{"replica"});
  EXPECT_EQ(cl.options.at("max-lag"), "1MB");
  EXPECT_EQ(cl.options.at("timeout"), "2s");
}

TEST(ParseCommandLine, InstallTakesADirectory) {
  const auto cl = parse_command_line({"install", "/replagent/bin"});
  EXPECT_EQ(cl.command, "install");
  EXPECT_EQ(cl.positional, Args{"/replagent/bin"});
}

TEST(ParseCommandLine, HelpSkipsThePositionalCheck) {
  const auto cl = parse_command_line({"probe", "--help"});
  EXPECT_TRUE(cl.help);
  EXPECT_EQ(cl.command, "probe");
  EXPECT_TRUE(parse_command_line({"-h"}).help);
}

class HelpText : public ::testing::TestWithParam<std::string> {};

TEST_P(HelpText, HasAnExample) {
  const std::string& command = GetParam();
  const auto cl = parse_command_line({command, "--help"});
  EXPECT_TRUE(cl.help);
  EXPECT_EQ(cl.command, command);
  const std::string text = help_text(cl.command);
  EXPECT_TRUE(contains(text, "Example")) << text;
  EXPECT_TRUE(contains(text, "replagent " + command)) << text;
}

INSTANTIATE_TEST_SUITE_P(Commands, HelpText,
                         ::testing::Values("init", "sidecar", "probe", "backup", "install",
                                           "config", "version"));

TEST(HelpText, OverviewListsCommandsAndAnExample) {
  const std::string text = help_text("");
  for (const char* c : {"  init ", "  sidecar ", "  probe KIND ", "  promote ", "  backup ",
                        "  install DIR ", "  config ", "  version ", "--log-format", "--set",
                        "Example", "replagent config --reference"}) {
    EXPECT_TRUE(contains(text, c)) << c << " in:\n" << text;
  }
}

// The kinds the missing-argument message offers are the ones `replagent probe` accepts.
TEST(ParseCommandLine, ProbeKindsInTheMessageAreAccepted) {
  std::string msg;
  try {
    parse_command_line({"probe"});
  } catch (const AgentError& e) {
    msg = e.what();
  }
  const std::string marker = "needs KIND: ";
  ASSERT_TRUE(contains(msg, marker)) << msg;
  std::string list = msg.substr(msg.find(marker) + marker.size());
  list = list.substr(0, list.find(" ("));
  std::vector<std::string> kinds;
  for (std::string word; !list.empty();) {
    const auto end = list.find_first_of(", ");
    word = list.substr(0, end);
    if (!word.empty() && word != "or") kinds.push_back(word);
    list = end == std::string::npos ? "" : list.substr(end + 1);
  }
  EXPECT_EQ(kinds, (Args{"ready", "live", "primary", "replica"})) << msg;
  const Config config;
  for (const auto& kind : kinds)
    EXPECT_NO_THROW(probes::parse_probe_options(kind, {}, config)) << kind;
  EXPECT_THROW(probes::parse_probe_options("bogus", {}, config), AgentError);
}

TEST(ParseCommandLine, ConfigReferenceFlag) {
  const auto cl = parse_command_line({"config", "--reference"});
  EXPECT_EQ(cl.command, "config");
  EXPECT_EQ(cl.options.count("reference"), 1u);
}

struct EscapeCase {
  std::string in;
  std::string out;
};

class JsonEscape : public ::testing::TestWithParam<EscapeCase> {};

TEST_P(JsonEscape, Escapes) { EXPECT_EQ(json_escape(GetParam().in), GetParam().out); }

INSTANTIATE_TEST_SUITE_P(Strings, JsonEscape,
                         ::testing::Values(EscapeCase{"", ""},
                                           EscapeCase{"plain text", "plain text"},
                                           EscapeCase{"say \"hi\"", "say \\\"hi\\\""},
                                           EscapeCase{"C:\\data", "C:\\\\data"},
                                           EscapeCase{"a\nb\rc\td", "a\\nb\\rc\\td"},
                                           EscapeCase{std::string("nul\0x", 5), "nul\\u0000x"},
                                           EscapeCase{"\x01\x1f", "\\u0001\\u001f"},
                                           EscapeCase{"\x7f", "\x7f"},
                                           EscapeCase{"caf\xc3\xa9 \xe2\x9c\x93",
                                                      "caf\xc3\xa9 \xe2\x9c\x93"},  // UTF-8 kept
                                           EscapeCase{"/path/ok", "/path/ok"}));

}  // namespace
}  // namespace replagent::agent
