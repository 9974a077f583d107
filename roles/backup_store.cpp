#include "roles/backup_store.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

#include "agent/errors.hpp"

namespace replagent::roles {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& what, const std::string& path, int err) {
  throw agent::AgentError(agent::ExitCode::kCloneFailed,
                          fmt::format("{} {}: {}", what, path, std::strerror(err)));
}

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

}  // namespace

void prepare_backup_dir(const std::string& dir) {
  const fs::path parent = fs::path(dir).parent_path();
  std::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) {
    throw agent::AgentError(agent::ExitCode::kCloneFailed,
                            fmt::format("cannot create backup.dir {}: {} (mount the backup volume "
                                        "there)",
                                        dir, ec.message()));
  }
  if (::mkdir(dir.c_str(), 0700) == 0) {
    // The umask may have narrowed it further; 0700 exactly.
    if (::chmod(dir.c_str(), 0700) != 0) fail("cannot chmod 0700 backup.dir", dir, errno);
    return;
  }
  if (errno != EEXIST) fail("cannot create backup.dir", dir, errno);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) fail("cannot stat backup.dir", dir, errno);
  if (!S_ISDIR(st.st_mode)) {
    throw agent::AgentError(agent::ExitCode::kCloneFailed,
                            fmt::format("backup.dir {} is not a directory (mount the backup "
                                        "volume there)",
                                        dir));
  }
  const unsigned mode = st.st_mode & 07777;
  if ((mode & 077) == 0) return;
  if (::chmod(dir.c_str(), 0700) == 0) {
    spdlog::warn("backup.dir {} had mode {:04o}: others could list the backups; tightened to 0700",
                 dir, mode);
  } else {
    spdlog::warn(
        "backup.dir {} has mode {:04o} and cannot be made 0700 ({}): others can list the "
        "backups' names, not read them (each is 0600); use a subdirectory of the volume, "
        "which replagent creates 0700, as backup.dir",
        dir, mode, std::strerror(errno));
  }
}

void create_private_file(const std::string& path) {
  agent::UniqueFd fd(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) fail("cannot create", path, errno);
  if (::fchmod(fd.get(), 0600) != 0) fail("cannot chmod 0600", path, errno);
}

std::optional<BackupLock> BackupLock::try_acquire(const std::string& dir) {
  const std::string path = (fs::path(dir) / ".lock").string();
  // O_CLOEXEC: pg_dump must not inherit the lock and hold it after we are gone. O_NOFOLLOW: a
  // symlink at the name would have us create or lock a file elsewhere.
  agent::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) fail("cannot open the lock file", path, errno);
  // A lock file an earlier version left 0644 (it holds nothing, but is one of the backup files).
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail("cannot stat", path, errno);
  if ((st.st_mode & 077) != 0 && ::fchmod(fd.get(), 0600) != 0) {
    spdlog::warn("cannot make the lock file {} 0600: {}", path, std::strerror(errno));
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return std::nullopt;
    fail("cannot lock", path, errno);
  }
  return BackupLock(std::move(fd));
}

BackupDirScan scan_backup_dir(const std::string& dir, const std::string& set) {
  BackupDirScan scan;
  std::set<std::string> dumps;
  std::vector<std::pair<std::string, BackupFileName>> others;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string file = it->path().filename().string();
    const auto parsed = parse_backup_file_name(set, file);
    if (!parsed || !it->is_regular_file()) continue;
    if (parsed->kind == BackupFileKind::kDump) {
      std::error_code size_ec;
      const auto bytes = it->file_size(size_ec);
      scan.backups.push_back(BackupEntry{file, parsed->taken, size_ec ? 0 : bytes});
      dumps.insert(file);
    } else {
      others.emplace_back(file, *parsed);
    }
  }
  if (ec) {
    throw agent::AgentError(agent::ExitCode::kCloneFailed,
                            fmt::format("cannot list backup.dir {}: {} (mount the backup volume "
                                        "there, or set backup.dir to where it is mounted)",
                                        dir, std::strerror(ec.value())));
  }
  for (const auto& [file, parsed] : others) {
    if (parsed.kind == BackupFileKind::kPartial || !dumps.count(parsed.dump_name))
      scan.leftovers.push_back(file);
  }
  return scan;
}

std::string sha256_file(const std::string& path) {
  agent::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) fail("cannot read", path, errno);
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    throw agent::AgentError(agent::ExitCode::kCloneFailed, "cannot initialise SHA-256 (OpenSSL)");
  std::vector<unsigned char> buf(1 << 20);
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot read", path, errno);
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(n));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &len);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

void fsync_file(const std::string& path) {
  agent::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) fail("cannot open", path, errno);
  if (::fsync(fd.get()) != 0) fail("cannot fsync", path, errno);
}

bool remove_backup(const std::string& dir, const std::string& dump_name) {
  bool ok = true;
  // The .dump first: once it is gone, the companions are leftovers the next run removes.
  for (const std::string_view extra : {"", ".sha256", ".counts"}) {
    const fs::path p = fs::path(dir) / (dump_name + std::string(extra));
    std::error_code ec;
    fs::remove(p, ec);
    if (ec) {
      spdlog::warn("cannot remove {}: {}", p.string(), ec.message());
      ok = false;
    }
  }
  return ok;
}

std::optional<std::string> read_text_file(const std::string& path) {
  agent::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string out;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace replagent::roles
