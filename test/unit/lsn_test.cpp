#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

#include "agent/pg.hpp"

namespace replagent::agent {
namespace {

struct LsnCase {
  std::string text;
  std::optional<std::uint64_t> value;
};

class LsnParseTest : public ::testing::TestWithParam<LsnCase> {};

TEST_P(LsnParseTest, Parses) {
  const auto& c = GetParam();
  EXPECT_EQ(parse_lsn(c.text), c.value) << "input: '" << c.text << "'";
}

INSTANTIATE_TEST_SUITE_P(
    Lsn, LsnParseTest,
    ::testing::Values(LsnCase{"16/B374D848", (std::uint64_t{0x16} << 32) | 0xB374D848},
                      LsnCase{"16/b374d848", (std::uint64_t{0x16} << 32) | 0xB374D848},
                      LsnCase{"0/0", 0}, LsnCase{"0/1", 1}, LsnCase{"1/0", std::uint64_t{1} << 32},
                      LsnCase{"00000000/00000001", 1}, LsnCase{"FFFFFFFF/FFFFFFFF", UINT64_MAX},
                      // malformed
                      LsnCase{"", std::nullopt}, LsnCase{"1", std::nullopt},
                      LsnCase{"1/", std::nullopt}, LsnCase{"/1", std::nullopt},
                      LsnCase{"G/1", std::nullopt}, LsnCase{"1/G", std::nullopt},
                      LsnCase{"1/2/3", std::nullopt}, LsnCase{"100000000/0", std::nullopt},
                      LsnCase{"0/100000000", std::nullopt}, LsnCase{" 1/2", std::nullopt},
                      LsnCase{"1/2 ", std::nullopt}, LsnCase{"+1/2", std::nullopt},
                      LsnCase{"-1/2", std::nullopt}, LsnCase{"0x1/2", std::nullopt}));

struct FormatCase {
  std::uint64_t value;
  std::string text;
};

class LsnFormatTest : public ::testing::TestWithParam<FormatCase> {};

TEST_P(LsnFormatTest, FormatsAsPostgresDoes) {
  const auto& c = GetParam();
  EXPECT_EQ(format_lsn(c.value), c.text);
  EXPECT_EQ(parse_lsn(c.text), c.value);  // round trip
}

INSTANTIATE_TEST_SUITE_P(Lsn, LsnFormatTest,
                         ::testing::Values(FormatCase{0, "0/0"}, FormatCase{1, "0/1"},
                                           FormatCase{(std::uint64_t{0x16} << 32) | 0xB374D848,
                                                      "16/B374D848"},
                                           FormatCase{std::uint64_t{1} << 32, "1/0"},
                                           FormatCase{UINT64_MAX, "FFFFFFFF/FFFFFFFF"}));

}  // namespace
}  // namespace replagent::agent
