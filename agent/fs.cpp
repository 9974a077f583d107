#include "agent/fs.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
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

namespace detail {

void write_file_atomic(const std::string& path, const std::string& content, unsigned mode,
                       const std::function<std::string()>& next_temp_name, int attempts) {
  // O_EXCL creates the file or fails, and with O_CREAT it never follows a symlink at the name,
  // even a dangling one; O_NOFOLLOW says so once more. So whatever sits at a name (a 0644 file
  // left there, a symlink to somewhere else) is skipped, never opened or truncated.
  std::string tmp;
  UniqueFd fd;
  for (int attempt = 0; !fd; ++attempt) {
    tmp = next_temp_name();
    fd = UniqueFd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                         static_cast<mode_t>(mode & 07777)));
    const int err = errno;
    if (!fd && (err != EEXIST || attempt + 1 >= attempts)) {
      fail(err == EEXIST ? "cannot create a temporary file (every name tried exists), last"
                         : "cannot create",
           tmp, err);
    }
  }
  try {
    // The umask only narrows the creation mode; fchmod makes it exactly `mode`, before the
    // content is written.
    if (::fchmod(fd.get(), static_cast<mode_t>(mode & 07777)) != 0)
      fail("cannot chmod", tmp, errno);
    write_all(fd.get(), content.data(), content.size(), tmp);
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

}  // namespace detail

void write_file_atomic(const std::string& path, const std::string& content, unsigned mode) {
  // 48 random bits per name: a name planted in advance is a guess, and a guessed one is
  // skipped anyway.
  const auto random_name = [&path] {
    std::uint64_t bits = 0;
    if (::getrandom(&bits, sizeof bits, 0) != static_cast<ssize_t>(sizeof bits)) {
      bits =
          static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
          (static_cast<std::uint64_t>(::getpid()) << 32);
    }
    return fmt::format("{}.replagent-tmp-{:012x}", path, bits & 0xffffffffffffULL);
  };
  detail::write_file_atomic(path, content, mode, random_name, 16);
}

void fsync_dir(const std::string& dir) { fsync_path(dir.empty() ? "." : dir, true); }

void fsync_tree(const std::string& root) {
  namespace fs = std::filesystem;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_symlink())
      continue;  // pg_wal/tablespaces may be links; their targets are synced by their owners
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
