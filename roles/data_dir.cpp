#include "roles/data_dir.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "agent/errors.hpp"
#include "agent/fs.hpp"

namespace replagent::roles {
namespace fs = std::filesystem;
using agent::AgentError;
using agent::ExitCode;

const char* to_string(DataDirKind kind) {
  switch (kind) {
    case DataDirKind::kMissing:
      return "missing";
    case DataDirKind::kEmpty:
      return "empty";
    case DataDirKind::kReplica:
      return "replica";
    case DataDirKind::kPrimary:
      return "primary";
    case DataDirKind::kUnknownContents:
      return "unknown contents";
  }
  return "?";
}

DataDirState inspect_data_dir(const std::string& pgdata) {
  DataDirState st;
  std::error_code ec;
  const fs::path dir(pgdata);
  if (!fs::exists(dir, ec)) return st;
  if (!fs::is_directory(dir, ec)) {
    st.kind = DataDirKind::kUnknownContents;
    st.detail = "PGDATA is not a directory";
    return st;
  }
  if (fs::is_empty(dir, ec)) {
    st.kind = ec ? DataDirKind::kUnknownContents : DataDirKind::kEmpty;
    st.detail = ec ? "cannot list: " + ec.message() : "";
    return st;
  }
  std::ifstream version(dir / "PG_VERSION");
  if (!version || !std::getline(version, st.pg_version)) {
    st.kind = DataDirKind::kUnknownContents;
    st.detail = "no PG_VERSION file";
    return st;
  }
  // ControlFileData begins with the 64-bit system identifier (pg_control.h); initdb writes it
  // once and every clone keeps it, so it names the cluster.
  std::ifstream control(dir / "global" / "pg_control", std::ios::binary);
  std::uint64_t sysid = 0;
  if (!control || !control.read(reinterpret_cast<char*>(&sysid), sizeof sysid) || sysid == 0) {
    st.kind = DataDirKind::kUnknownContents;
    st.detail = "no readable global/pg_control";
    return st;
  }
  st.system_identifier = sysid;
  st.kind = fs::exists(dir / "standby.signal", ec) ? DataDirKind::kReplica : DataDirKind::kPrimary;
  return st;
}

namespace {
std::string sibling(const std::string& pgdata, const char* suffix) {
  fs::path p = fs::path(pgdata).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return (p.parent_path() / fmt::format(".{}.{}", p.filename().string(), suffix)).string();
}
}  // namespace

std::string staging_dir_for(const std::string& pgdata) {
  return sibling(pgdata, "replagent-staging");
}
std::string retired_dir_for(const std::string& pgdata) {
  return sibling(pgdata, "replagent-retired");
}
std::string run_dir_for(const std::string& pgdata) { return sibling(pgdata, "replagent-run"); }

namespace {
// "/data/pgdata/" -> "/data/pgdata"; "/" stays "/".
fs::path normal_pgdata(const std::string& pgdata) {
  fs::path p = fs::path(pgdata).lexically_normal();
  if (p.filename().empty() && p.has_relative_path()) p = p.parent_path();
  return p;
}
fs::path parent_of(const fs::path& p) {
  fs::path parent = p.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}
}  // namespace

std::string pgdata_placement_problem(const std::string& pgdata, const PgdataPlacement& where) {
  const fs::path p = normal_pgdata(pgdata);
  constexpr const char* fix = "set PGDATA to a subdirectory of the volume mount";
  if (!p.has_relative_path() || p.filename() == "." || p.filename() == ".." ||
      (where.exists && where.dev == where.parent_dev && where.ino == where.parent_ino)) {
    return fmt::format(
        "PGDATA {} is a file system root (or names no directory in a parent): "
        "init works in directories beside PGDATA, and it has no parent to hold "
        "them; {}, e.g. PGDATA=/var/lib/postgresql/data/pgdata",
        pgdata, fix);
  }
  if (where.exists && where.dev != where.parent_dev) {
    return fmt::format(
        "PGDATA {} is a mount point (another file system than its parent {}): init works in "
        "{} and {} beside PGDATA and renames the finished copy into place, which would put them "
        "outside the volume (on the container's writable layer, lost with the pod) and the rename "
        "would fail across file systems; {}, e.g. PGDATA={}",
        pgdata, parent_of(p).string(), staging_dir_for(pgdata), run_dir_for(pgdata), fix,
        (p / "pgdata").string());
  }
  return {};
}

void check_pgdata_placement(const std::string& pgdata) {
  PgdataPlacement where;
  struct stat st {};
  if (::stat(pgdata.c_str(), &st) == 0) {
    const std::string parent = parent_of(normal_pgdata(pgdata)).string();
    struct stat pst {};
    if (::stat(parent.c_str(), &pst) != 0) {
      throw AgentError(ExitCode::kFailed, fmt::format("cannot stat {}, the parent of PGDATA: {}",
                                                      parent, std::strerror(errno)));
    }
    where = PgdataPlacement{
        true, static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
        static_cast<std::uint64_t>(pst.st_dev), static_cast<std::uint64_t>(pst.st_ino)};
  } else if (errno != ENOENT) {
    throw AgentError(ExitCode::kFailed,
                     fmt::format("cannot stat PGDATA {}: {}", pgdata, std::strerror(errno)));
  }
  // A missing PGDATA is created in its parent, on the parent's file system: only the path
  // can be wrong then.
  if (auto why = pgdata_placement_problem(pgdata, where); !why.empty())
    throw agent::usage_error(why);
}

namespace {
[[noreturn]] void refuse_foreign(const std::string& dir, mode_t mode) {
  throw AgentError(
      ExitCode::kUnsafeData,
      fmt::format("{} is {}, not a directory replagent made: it is neither followed nor removed; "
                  "replagent works under this name beside PGDATA, so remove it by hand once "
                  "nothing needs it",
                  dir, S_ISLNK(mode) ? "a symbolic link" : "not a directory"));
}
}  // namespace

bool is_own_dir(const std::string& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    throw AgentError(ExitCode::kFailed,
                     fmt::format("cannot lstat {}: {}", dir, std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) refuse_foreign(dir, st.st_mode);
  return true;
}

void make_private_dir(const std::string& dir) {
  const fs::path parent = fs::path(dir).parent_path();
  std::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec)
    throw AgentError(ExitCode::kFailed,
                     fmt::format("cannot create {}: {}", parent.string(), ec.message()));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    throw AgentError(ExitCode::kFailed,
                     fmt::format("cannot create {}: {}", dir, std::strerror(errno)));
  // Opened without following a link, then changed through the descriptor: a symlink swapped in
  // after a check could not redirect the chmod.
  agent::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    struct stat st {};
    if ((err == ELOOP || err == ENOTDIR) && ::lstat(dir.c_str(), &st) == 0)
      refuse_foreign(dir, st.st_mode);
    throw AgentError(ExitCode::kFailed, fmt::format("cannot open {}: {}", dir, std::strerror(err)));
  }
  if (::fchmod(fd.get(), 0700) != 0) {
    throw AgentError(ExitCode::kFailed, fmt::format("cannot make {} private (chmod 0700): {}", dir,
                                                    std::strerror(errno)));
  }
}

bool remove_leftovers(const std::string& pgdata) {
  bool removed = false;
  for (const auto& dir : {staging_dir_for(pgdata), run_dir_for(pgdata)}) {
    if (!is_own_dir(dir)) continue;
    std::error_code ec;
    spdlog::warn("removing {} left by an interrupted earlier run", dir);
    fs::remove_all(dir, ec);
    if (ec) {
      throw AgentError(ExitCode::kFailed,
                       fmt::format("cannot remove leftover {}: {}", dir, ec.message()));
    }
    removed = true;
  }
  // A re-clone moves the old data aside just before the new clone takes its place, and removes
  // it just after. Killed in between, PGDATA is missing (put the old data back: the next run
  // decides again) or is the new clone (the old data is no longer needed).
  const std::string retired = retired_dir_for(pgdata);
  std::error_code ec;
  if (is_own_dir(retired)) {
    if (!fs::exists(pgdata, ec) || agent::is_empty_dir(pgdata)) {
      spdlog::warn("putting {} back as {}: an earlier re-clone was interrupted before its swap",
                   retired, pgdata);
      fs::remove(pgdata, ec);  // an empty directory, if any
      if (::rename(retired.c_str(), pgdata.c_str()) != 0) {
        throw AgentError(ExitCode::kFailed, fmt::format("cannot rename {} to {}: {}", retired,
                                                        pgdata, std::strerror(errno)));
      }
      agent::fsync_dir(fs::path(pgdata).parent_path().string());
    } else {
      spdlog::warn(
          "removing {}: an earlier re-clone completed its swap but was interrupted "
          "before removing the replaced data",
          retired);
      fs::remove_all(retired, ec);
      if (ec) {
        throw AgentError(ExitCode::kFailed,
                         fmt::format("cannot remove leftover {}: {}", retired, ec.message()));
      }
    }
    removed = true;
  }
  return removed;
}

void promote_staging(const std::string& pgdata) {
  const std::string staging = staging_dir_for(pgdata);
  if (!is_own_dir(staging))
    throw AgentError(ExitCode::kFailed,
                     fmt::format("the staging directory {} is missing", staging));
  agent::fsync_tree(staging);
  std::error_code ec;
  if (fs::exists(pgdata, ec) && !agent::is_empty_dir(pgdata)) {
    throw AgentError(ExitCode::kUnsafeData,
                     fmt::format("{} is not empty; refusing to replace it", pgdata));
  }
  // rename(2) replaces an empty directory atomically; a missing one is simply created.
  if (::rename(staging.c_str(), pgdata.c_str()) != 0) {
    throw AgentError(ExitCode::kFailed, fmt::format("cannot rename {} to {}: {}", staging, pgdata,
                                                    std::strerror(errno)));
  }
  // PostgreSQL refuses to start on a data directory others can enter.
  if (::chmod(pgdata.c_str(), 0700) != 0) {
    throw AgentError(ExitCode::kFailed, fmt::format("cannot make {} private (chmod 0700): {}",
                                                    pgdata, std::strerror(errno)));
  }
  // The parent holds the renamed entry; "/data/pgdata/" names /data/pgdata, not its parent.
  fs::path dir = fs::path(pgdata).lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();
  agent::fsync_dir(dir.parent_path().string());
}

std::string server_socket_dir(const std::string& data_dir) {
  std::ifstream in(std::filesystem::path(data_dir) / "postmaster.pid");
  std::string line;
  for (int i = 0; i < 5 && std::getline(in, line); ++i) {
  }
  return in ? line : std::string();
}

}  // namespace replagent::roles
