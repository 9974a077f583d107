#pragma once

// The fixture of the config tests (config_test.cpp, config_values_test.cpp,
// config_postgres_test.cpp): load_config's inputs with no file, and the error it throws.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "agent/config.hpp"
#include "agent/errors.hpp"

namespace replagent::agent {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/replagent-config-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    inputs_.default_file = dir_ / "absent.toml";
    inputs_.hostname = "host-7";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::ofstream(p) << text;
    return p;
  }

  // The message of the AgentError load_config throws; fails the test if it does not throw.
  std::string error_of(const ConfigInputs& in) {
    try {
      load_config(in);
    } catch (const AgentError& e) {
      EXPECT_EQ(e.code(), ExitCode::kUsage);
      return e.what();
    }
    ADD_FAILURE() << "load_config did not throw";
    return "";
  }

  std::filesystem::path dir_;
  ConfigInputs inputs_;
};

}  // namespace replagent::agent
