// The reference (docs/configuration.md, `replagent config --reference`) against the code:
// every key with its environment name, every exit code, every endpoint the sidecar routes and
// every metric it renders. The committed copy is compared with the binary's output by the
// ctest reference_doc (scripts/gen-reference --check).
#include "agent/cmd/reference.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "agent/config.hpp"
#include "agent/errors.hpp"
#include "probes/metrics.hpp"
#include "probes/routes.hpp"

namespace replagent::agent {
namespace {

using namespace std::chrono_literals;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The part of the document under "## <title>", up to the next "## ".
std::string section(const std::string& doc, const std::string& title) {
  const auto begin = doc.find("\n## " + title + "\n");
  EXPECT_NE(begin, std::string::npos) << "no section " << title;
  if (begin == std::string::npos) return "";
  const auto end = doc.find("\n## ", begin + 1);
  return doc.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

TEST(Reference, DescribesEveryKeyWithItsEnvironmentNameDefaultAndMeaning) {
  const std::string doc = cmd::reference_markdown();
  const auto keys = config_keys();
  const auto refs = key_reference();
  ASSERT_EQ(refs.size(), keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const auto& r = refs[i];
    EXPECT_EQ(r.key, keys[i]);
    std::string env = "REPLAGENT_";
    for (char ch : r.key) env += ch == '.' ? '_' : static_cast<char>(std::toupper(ch));
    EXPECT_EQ(r.env, env);
    EXPECT_FALSE(r.default_value.empty()) << r.key;
    EXPECT_FALSE(r.value.empty()) << r.key;
    EXPECT_FALSE(r.meaning.empty()) << r.key;
    EXPECT_TRUE(has(doc, "| `" + r.key + "` | `" + env + "` | ")) << r.key;
  }
}

// A built-in default in the reference is what `replagent config` prints with nothing set.
TEST(Reference, DefaultsAreWhatConfigPrints) {
  ConfigInputs in;
  in.default_file = "/nonexistent/replagent.toml";
  in.hostname = "todo-db-0";
  const std::string printed = render_config(load_config(in));
  int literal = 0;
  for (const auto& r : key_reference()) {
    if (r.default_value.size() < 2 || r.default_value.front() != '`' ||
        r.default_value.find('`', 1) != r.default_value.size() - 1)
      continue;                                          // derived, empty or secret
    if (r.key == "postgres.allowed_networks") continue;  // a list: checked below
    const std::string value = r.default_value.substr(1, r.default_value.size() - 2);
    const std::string key = r.key.substr(r.key.find('.') + 1);
    const bool quoted = has(printed, "\n" + key + " = '" + value + "'\n");
    const bool bare = has(printed, "\n" + key + " = " + value + "\n");
    EXPECT_TRUE(quoted || bare) << r.key << " documented as " << value << ", printed:\n" << printed;
    ++literal;
  }
  EXPECT_GT(literal, 20);
  EXPECT_TRUE(has(printed, "allowed_networks = [ '0.0.0.0/0', '::/0' ]")) << printed;
}

TEST(Reference, ListsEveryExitCode) {
  const std::string exits = section(cmd::reference_markdown(), "Exit codes");
  for (int code = 0; code <= 5; ++code) {
    EXPECT_TRUE(has(exits, "| `" + std::to_string(code) + "` | ")) << code;
  }
  std::set<int> codes;
  for (const auto& e : kExitCodes) codes.insert(static_cast<int>(e.code));
  EXPECT_EQ(codes, (std::set<int>{0, 1, 2, 3, 4, 5}));
}

// Every path in the endpoint table (aliases included) is routed, and every path the router
// names in its 404 answer is in the table.
TEST(Reference, ListsEveryEndpointTheSidecarRoutes) {
  const std::string endpoints = section(cmd::reference_markdown(), "Sidecar endpoints");
  probes::RouteContext ctx;
  std::set<std::string> documented;
  std::istringstream lines(endpoints);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("| `/", 0) != 0) continue;
    const std::string first_cell = line.substr(0, line.find(" | "));
    for (auto tick = first_cell.find("`/"); tick != std::string::npos;
         tick = first_cell.find("`/", tick + 1)) {
      std::string path = first_cell.substr(tick + 1, first_cell.find('`', tick + 1) - tick - 1);
      path = path.substr(0, path.find('['));
      documented.insert(path);
      const auto r = probes::respond({"GET", path}, ctx);
      EXPECT_NE(r.status, 404) << path << ": " << r.body;
    }
  }
  EXPECT_GE(documented.size(), 7u) << endpoints;
  const auto missing = probes::respond({"GET", "/no-such-endpoint"}, ctx);
  ASSERT_EQ(missing.status, 404);
  const auto list = missing.body.substr(missing.body.find("(endpoints: "));
  std::istringstream words(list.substr(12, list.find(')') - 12));
  int listed = 0;
  for (std::string path; words >> path; ++listed)
    EXPECT_EQ(documented.count(path), 1u) << path << " is routed but not documented";
  EXPECT_GE(listed, 7);
}

// Every metric family the sidecar renders, in either role, is in the metrics table.
TEST(Reference, ListsEveryMetricTheSidecarRenders) {
  const std::string metrics = section(cmd::reference_markdown(), "Metrics");
  const auto now = std::chrono::steady_clock::time_point() + 1000s;
  probes::Snapshot primary;
  primary.sequence = 1;
  primary.taken_at = now;
  primary.server_up = true;
  primary.role = probes::Role::kPrimary;
  primary.current_lsn = 100;
  primary.replicas.push_back(
      probes::ReplicaRow{"db-1", "streaming", 1, 2, 3, 4, 0.1, std::nullopt, std::nullopt});
  primary.slots.push_back(probes::SlotRow{"db_1", false, 8192});
  primary.filesystem = probes::FilesystemStats{10, 4};
  probes::Snapshot replica = primary;
  replica.role = probes::Role::kReplica;
  replica.in_recovery = true;
  replica.primary_lsn = 5000;
  replica.receive_lsn = 4500;
  replica.replay_lsn = 4000;
  replica.wal_receiver_status = "streaming";
  replica.replay_delay_seconds = 1.5;
  std::set<std::string> families;
  for (const auto* s : {&primary, &replica}) {
    probes::Metrics m("9.9.9", 2s);
    m.set_last_init("reclone", "slot_wal_removed", 1);
    std::istringstream lines(m.render(s, now));
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("# TYPE ", 0) == 0) families.insert(line.substr(7, line.find(' ', 7) - 7));
    }
  }
  EXPECT_GE(families.size(), 20u);
  for (const auto& name : families)
    EXPECT_TRUE(has(metrics, "| `" + name + "` | ")) << name << " is rendered but not documented";
}

}  // namespace
}  // namespace replagent::agent
