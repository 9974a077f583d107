#include "agent/install.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "agent/errors.hpp"
#include "agent/fs.hpp"

namespace replagent::agent {

std::string install_self(const std::string& dir) { return install_file("/proc/self/exe", dir); }

std::string install_file(const std::string& source, const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw AgentError(ExitCode::kFailed,
                     fmt::format("install: {} is not a directory (mount the shared emptyDir "
                                 "volume there)",
                                 dir));
  }
  const std::string target = (fs::path(dir) / "replagent").string();
  const std::string tmp = (fs::path(dir) / ".replagent.tmp").string();

  std::vector<char> bytes = read_file_bytes(source);
  UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755));
  if (!out) {
    throw AgentError(ExitCode::kFailed,
                     fmt::format("install: cannot write to {}: {} (is the volume writable by "
                                 "this user?)",
                                 dir, std::strerror(errno)));
  }
  write_all(out.get(), bytes.data(), bytes.size(), tmp);
  if (::fchmod(out.get(), 0755) != 0 || ::fsync(out.get()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw AgentError(ExitCode::kFailed, fmt::format("install: {}: {}", tmp, std::strerror(err)));
  }
  out.reset();
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw AgentError(ExitCode::kFailed, fmt::format("install: cannot rename {} to {}: {}", tmp,
                                                    target, std::strerror(err)));
  }
  fsync_dir(dir);
  spdlog::info("installed {} ({} bytes)", target, bytes.size());
  return target;
}

}  // namespace replagent::agent
