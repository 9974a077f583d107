#include "agent/fs.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "agent/errors.hpp"

namespace replagent::agent {
namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path, int err) {
  throw AgentError(ExitCode::kFailed, fmt::format("{} {}: {}", what, path, std::strerror(err)));
}

void fsync_path(const std::string& path, bool directory) {
  UniqueFd fd(::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC));
  if (!fd) fail("cannot open", path, errno);
  if (::fsync(fd.get()) != 0) fail("cannot fsync", path, errno);
}

}  // namespace

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

std::vector<char> read_file_bytes(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) fail("cannot read", path, errno);
  std::vector<char> out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot read", path, errno);
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  return out;
}

void write_all(int fd, const char* data, std::size_t size, const std::string& path_for_errors) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot write", path_for_errors, errno);
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void write_file_atomic(const std::string& path, const std::string& content, unsigned mode) {
  const std::string tmp = path + ".replagent-tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd) fail("cannot create", tmp, errno);
  try {
    write_all(fd.get(), content.data(), content.size(), tmp);
    if (::fchmod(fd.get(), mode) != 0) fail("cannot chmod", tmp, errno);
    if (::fsync(fd.get()) != 0) fail("cannot fsync", tmp, errno);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail("cannot rename into", path, err);
  }
  fsync_dir(std::filesystem::path(path).parent_path().string());
}

void fsync_dir(const std::string& dir) { fsync_path(dir.empty() ? "." : dir, true); }

void fsync_tree(const std::string& root) {
  namespace fs = std::filesystem;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_symlink()) continue;  // pg_wal/tablespaces may be links; their targets are synced by their owners
    if (entry.is_directory())
      fsync_path(entry.path().string(), true);
    else if (entry.is_regular_file())
      fsync_path(entry.path().string(), false);
  }
  fsync_path(root, true);
}

bool is_empty_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return true;
  return fs::is_directory(dir, ec) && fs::is_empty(dir, ec);
}

}  // namespace replagent::agent
