#include "roles/data_dir.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

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
    case DataDirKind::kMissing: return "missing";
    case DataDirKind::kEmpty: return "empty";
    case DataDirKind::kReplica: return "replica";
    case DataDirKind::kPrimary: return "primary";
    case DataDirKind::kUnknownContents: return "unknown contents";
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

std::string staging_dir_for(const std::string& pgdata) { return sibling(pgdata, "replagent-staging"); }
std::string retired_dir_for(const std::string& pgdata) { return sibling(pgdata, "replagent-retired"); }
std::string run_dir_for(const std::string& pgdata) { return sibling(pgdata, "replagent-run"); }

bool remove_leftovers(const std::string& pgdata) {
  bool removed = false;
  for (const auto& dir : {staging_dir_for(pgdata), run_dir_for(pgdata)}) {
    std::error_code ec;
    if (!fs::exists(dir, ec)) continue;
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
  if (fs::exists(retired, ec)) {
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
      spdlog::warn("removing {}: an earlier re-clone completed its swap but was interrupted "
                   "before removing the replaced data", retired);
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
  ::chmod(pgdata.c_str(), 0700);
  // The parent holds the renamed entry; "/data/pgdata/" names /data/pgdata, not its parent.
  fs::path dir = fs::path(pgdata).lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();
  agent::fsync_dir(dir.parent_path().string());
}

}  // namespace replagent::roles
