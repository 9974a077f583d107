// The chart checks agent.extraConfig against its own copy of the agent's keys
// (charts/replagent-postgres/files/config-keys.txt): that copy must be the agent's list, and its
// "secret" marks the keys the agent refuses in a config file, or the chart would render a
// replagent.toml on which every pod's init exits 2 (or refuse a key the agent takes).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "agent/config.hpp"
#include "agent/errors.hpp"

#ifndef REPLAGENT_SOURCE_DIR
#error "REPLAGENT_SOURCE_DIR must name the source tree (set by test/CMakeLists.txt)"
#endif

namespace replagent::agent {
namespace {

const std::string kChartKeys =
    std::string(REPLAGENT_SOURCE_DIR) + "/charts/replagent-postgres/files/config-keys.txt";

struct ChartKeys {
  std::set<std::string> all;
  std::set<std::string> secret;
};

ChartKeys read_chart_keys() {
  ChartKeys out;
  std::ifstream in(kChartKeys);
  EXPECT_TRUE(in) << "cannot read " << kChartKeys;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string key, mark, extra;
    words >> key >> mark >> extra;
    EXPECT_TRUE((mark.empty() || mark == "secret") && extra.empty())
        << kChartKeys << ": expected 'section.key' or 'section.key secret', got '" << line << "'";
    EXPECT_TRUE(out.all.insert(key).second) << kChartKeys << ": " << key << " twice";
    if (mark == "secret") out.secret.insert(key);
  }
  return out;
}

// Whether load_config refuses `key` written in a config file as a secret (any value).
bool refused_in_file(const std::string& key) {
  const auto dot = key.find('.');
  ConfigInputs in;
  in.default_file = "/nonexistent/replagent.toml";
  in.hostname = "todo-db-0";
  in.file = "replagent.toml";
  in.file_text = "[" + key.substr(0, dot) + "]\n" + key.substr(dot + 1) + " = \"x\"\n";
  try {
    load_config(in);
  } catch (const AgentError& e) {
    return std::string(e.what()).find("must not be written in a config file") != std::string::npos;
  }
  return false;
}

TEST(ChartConfigKeys, AreTheAgentsKeys) {
  const ChartKeys chart = read_chart_keys();
  const auto agent_list = config_keys();
  const std::set<std::string> agent(agent_list.begin(), agent_list.end());
  std::vector<std::string> missing, extra;
  std::set_difference(agent.begin(), agent.end(), chart.all.begin(), chart.all.end(),
                      std::back_inserter(missing));
  std::set_difference(chart.all.begin(), chart.all.end(), agent.begin(), agent.end(),
                      std::back_inserter(extra));
  EXPECT_TRUE(missing.empty() && extra.empty())
      << kChartKeys << " differs from agent::config_keys(): add "
      << ::testing::PrintToString(missing) << ", remove " << ::testing::PrintToString(extra);
}

TEST(ChartConfigKeys, SecretMarksAreTheKeysRefusedInAFile) {
  const ChartKeys chart = read_chart_keys();
  ASSERT_FALSE(chart.secret.empty());
  for (const auto& key : config_keys()) {
    EXPECT_EQ(refused_in_file(key), chart.secret.count(key) == 1)
        << key << ": the agent " << (refused_in_file(key) ? "refuses" : "takes")
        << " it in a config file; mark it in " << kChartKeys << " accordingly";
  }
}

}  // namespace
}  // namespace replagent::agent
