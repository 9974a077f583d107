#include "agent/units.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "agent/config.hpp"
#include "agent/errors.hpp"

#ifndef REPLAGENT_SOURCE_DIR
#error "REPLAGENT_SOURCE_DIR must name the source tree (set by test/CMakeLists.txt)"
#endif

namespace replagent::agent {
namespace {

using std::chrono::milliseconds;

struct SizeCase {
  const char* text;
  std::optional<std::uint64_t> want;
};

TEST(ParseSize, Table) {
  const SizeCase cases[] = {
      {"0", 0},
      {"1048576", 1048576},
      {"16MB", 16'000'000},
      {"16mb", 16'000'000},
      {"512kB", 512'000},
      {"1GiB", 1ULL << 30},
      {"1gib", 1ULL << 30},
      {"3KiB", 3072},
      {"2TiB", 2ULL << 40},
      {"1k", 1000},
      {"7B", 7},
      {"", std::nullopt},
      {"MB", std::nullopt},
      {"-1MB", std::nullopt},
      {"1.5MB", std::nullopt},
      {"16 MB", std::nullopt},
      {"16XB", std::nullopt},
      {"18446744073709551615", 18446744073709551615ULL},
      {"18446744073709551616", std::nullopt},
      {"20000000TB", std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(parse_size(c.text), c.want) << "input: '" << c.text << "'";
  }
}

struct DurationCase {
  const char* text;
  std::optional<milliseconds> want;
};

TEST(ParseDuration, Table) {
  const DurationCase cases[] = {
      {"0", milliseconds{0}},
      {"200ms", milliseconds{200}},
      {"10s", milliseconds{10'000}},
      {"5m", milliseconds{300'000}},
      {"1h", milliseconds{3'600'000}},
      {"1m30s", milliseconds{90'000}},
      {"1h2m3s4ms", milliseconds{3'723'004}},
      {"", std::nullopt},
      {"10", std::nullopt},
      {"s", std::nullopt},
      {"-1s", std::nullopt},
      {"1.5s", std::nullopt},
      {"10 s", std::nullopt},
      {"10sec", std::nullopt},
      {"1d", std::nullopt},
      {"99999999999999999999h", std::nullopt},
      {"9999999999999999h", std::nullopt},
      // One part above int64 milliseconds used to come back negative (found by fuzz_units).
      {"10000000000000000s", std::nullopt},
      {"9223372036854775807ms", milliseconds{9223372036854775807}},
      {"9223372036854775807ms1ms", std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(parse_duration(c.text), c.want) << "input: '" << c.text << "'";
  }
}

TEST(FormatSize, RoundTripsExactValues) {
  for (std::uint64_t v : {0ULL, 7ULL, 1000ULL, 16'000'000ULL, 1ULL << 30, 3072ULL}) {
    EXPECT_EQ(parse_size(format_size(v)), v) << format_size(v);
  }
  EXPECT_EQ(format_size(16'000'000), "16MB");
  EXPECT_EQ(format_size(1ULL << 30), "1GiB");
  EXPECT_EQ(format_size(1'500'000'123), "1.4GiB");
}

TEST(FormatSizeExact, NeverRounds) {
  for (std::uint64_t v : {0ULL, 7ULL, 100'001ULL, 16'000'000ULL, 1ULL << 30, 1'500'000'123ULL}) {
    EXPECT_EQ(parse_size(format_size_exact(v)), v) << format_size_exact(v);
  }
  EXPECT_EQ(format_size_exact(16'000'000), "16MB");
  EXPECT_EQ(format_size_exact(100'001), "100001");
}

TEST(FormatDuration, Table) {
  EXPECT_EQ(format_duration(milliseconds{0}), "0s");
  EXPECT_EQ(format_duration(milliseconds{200}), "200ms");
  EXPECT_EQ(format_duration(milliseconds{90'000}), "1m30s");
  EXPECT_EQ(format_duration(milliseconds{3'600'000}), "1h");
  for (auto v : {0, 200, 1500, 90'000, 3'723'000}) {
    EXPECT_EQ(parse_duration(format_duration(milliseconds{v})), milliseconds{v});
  }
}

// test/data/quantities.tsv: one row of the table the chart test checks values.schema.json
// against, so the chart's patterns and these parsers cannot disagree unnoticed.
struct QuantityRow {
  int line = 0;
  std::string kind;   // size, duration, or a config key
  std::string text;   // without its quotes
  std::string agent;  // a number, no, overflow, yes
};

std::vector<QuantityRow> quantity_rows() {
  const std::string path = std::string(REPLAGENT_SOURCE_DIR) + "/test/data/quantities.tsv";
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot read " << path;
  std::vector<QuantityRow> rows;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty() || line[0] == '#') continue;
    const auto tab1 = line.find('\t');
    const auto tab2 = tab1 == std::string::npos ? tab1 : line.find('\t', tab1 + 1);
    const std::string quoted =
        tab2 == std::string::npos ? "" : line.substr(tab1 + 1, tab2 - tab1 - 1);
    if (quoted.size() < 2 || quoted.front() != '"' || quoted.back() != '"') {
      ADD_FAILURE() << path << ":" << n << ": expected KIND<tab>\"TEXT\"<tab>AGENT: " << line;
      continue;
    }
    rows.push_back(
        {n, line.substr(0, tab1), quoted.substr(1, quoted.size() - 2), line.substr(tab2 + 1)});
  }
  return rows;
}

TEST(Quantities, SharedTableMatchesTheParsers) {
  const auto rows = quantity_rows();
  int sizes = 0, durations = 0, keys = 0;
  for (const auto& r : rows) {
    const std::string where = "quantities.tsv:" + std::to_string(r.line) + " " + r.kind + " '" +
                              r.text + "' (" + r.agent + ")";
    const bool number =
        !r.agent.empty() && r.agent.find_first_not_of("0123456789") == std::string::npos;
    if (r.kind == "size") {
      ++sizes;
      ASSERT_TRUE(number || r.agent == "no" || r.agent == "overflow") << where;
      EXPECT_EQ(parse_size(r.text), number ? std::optional(std::stoull(r.agent)) : std::nullopt)
          << where;
    } else if (r.kind == "duration") {
      ++durations;
      ASSERT_TRUE(number || r.agent == "no" || r.agent == "overflow") << where;
      EXPECT_EQ(
          parse_duration(r.text),
          number ? std::optional(std::chrono::milliseconds{std::stoll(r.agent)}) : std::nullopt)
          << where;
    } else {
      // A key's own words ("unlimited") and empty values: what load_config does with them.
      ++keys;
      ASSERT_TRUE(r.agent == "yes" || r.agent == "no") << where;
      ConfigInputs in;
      in.default_file = "/nonexistent/replagent.toml";
      in.hostname = "todo-db-0";
      in.flags = {{r.kind, r.text}};
      bool accepted = true;
      try {
        load_config(in);
      } catch (const AgentError&) {
        accepted = false;
      }
      EXPECT_EQ(accepted, r.agent == "yes") << where;
    }
  }
  // The table reached this test (a wrong path or format would make it vacuous).
  EXPECT_GE(sizes, 20);
  EXPECT_GE(durations, 20);
  EXPECT_GE(keys, 10);
}

}  // namespace
}  // namespace replagent::agent
