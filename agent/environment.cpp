// The process environment the agent reads (current_environment) and scrubs of secrets once
// the config holds them, and the Secret files (password files, tokens) it reads.
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "agent/config.hpp"
#include "agent/errors.hpp"

extern char** environ;

namespace replagent::agent {

Secret read_secret_file(const std::string& path, const std::string& key) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    // A Secret mounted as a volume is a directory of one file per key.
    throw usage_error(
        fmt::format("{} '{}' is a directory, not a file: point {} at the key's "
                    "file inside it (a Secret volume holds one file per key), e.g. "
                    "{}/password",
                    key, path, key, path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw usage_error(
        fmt::format("cannot read {} '{}': {} (mount the Secret there or fix the path)", key, path,
                    std::strerror(errno)));
  }
  std::string value((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Secrets created with `echo` end in a newline that is not part of the password.
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  if (value.empty()) throw usage_error(fmt::format("{} '{}' is empty", key, path));
  return Secret(std::move(value));
}

bool is_secret_variable(const std::string& name) {
  if (name == "POSTGRES_PASSWORD") return true;
  if (name.rfind("REPLAGENT_", 0) == 0 && name.find("PASSWORD") != std::string::npos &&
      name.size() > 5 && name.compare(name.size() - 5, 5, "_FILE") != 0)
    return true;
  if (name == "REPLAGENT_SIDECAR_STATUS_TOKEN") return true;
  return name.rfind("PG", 0) == 0 && name.find("PASS") != std::string::npos && name != "PGPASSFILE";
}

void scrub_secret_environment() {
  std::vector<std::string> names;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos && is_secret_variable(entry.substr(0, eq)))
      names.push_back(entry.substr(0, eq));
  }
  for (const auto& n : names) ::unsetenv(n.c_str());
}

std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq != std::string::npos) out[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return out;
}

Secret read_password_file(const std::string& path, const std::string& key) {
  return read_secret_file(path, key);
}

}  // namespace replagent::agent
