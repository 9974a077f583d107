#pragma once

#include <cstdint>
#include <string>

namespace replagent::roles {

// What a data directory holds, read from the files PostgreSQL itself relies on.
enum class DataDirKind {
  kMissing,          // PGDATA does not exist
  kEmpty,            // an empty directory
  kReplica,          // PG_VERSION + global/pg_control + standby.signal
  kPrimary,          // PG_VERSION + global/pg_control, no standby.signal
  kUnknownContents,  // files, but not a PostgreSQL data directory (or an unreadable one)
};
const char* to_string(DataDirKind kind);

struct DataDirState {
  DataDirKind kind = DataDirKind::kMissing;
  std::uint64_t system_identifier = 0;  // from global/pg_control, when readable
  std::string pg_version;               // PG_VERSION, e.g. "15"
  std::string detail;                   // why kUnknownContents
};

// The first unix socket directory of the server running on `data_dir` (postmaster.pid's fifth
// line), or "" when no server runs there or it listens on no socket.
std::string server_socket_dir(const std::string& data_dir);

// Reads PGDATA without changing anything.
DataDirState inspect_data_dir(const std::string& pgdata);

// The directories init works in, beside PGDATA on the same volume so that the final rename
// is atomic. Hidden (dot) names: never a PGDATA that PostgreSQL or the image would start from.
std::string staging_dir_for(const std::string& pgdata);  // clone / initdb target
std::string retired_dir_for(const std::string& pgdata);  // old data moved aside by a re-clone
std::string run_dir_for(const std::string& pgdata);      // private 0700: passfiles, sockets

// Where PGDATA sits, from stat(2) of PGDATA (following a symlink) and of its parent directory.
struct PgdataPlacement {
  bool exists = false;  // PGDATA exists (the fields below are then filled in)
  std::uint64_t dev = 0, ino = 0;
  std::uint64_t parent_dev = 0, parent_ino = 0;
};
// Empty when PGDATA's siblings (staging, run, retired) are on PGDATA's file system; otherwise
// why not. A PGDATA that is a mount point (another st_dev than its parent) or "/" would put
// them outside the volume: on the container's writable layer, lost with the pod, and a
// rename(2) across file systems fails (EXDEV) after a whole clone.
std::string pgdata_placement_problem(const std::string& pgdata, const PgdataPlacement& where);
// Stats PGDATA and its parent; throws AgentError(kUsage) with pgdata_placement_problem's
// reason and what to set instead, AgentError(kFailed) when the parent cannot be read.
void check_pgdata_placement(const std::string& pgdata);

// The staging, run and retired names are replagent's own plain directories. Something else
// there (a symlink, a file, a device) was not put there by replagent: it is neither followed
// nor removed, and this throws AgentError(kUnsafeData) naming it. Returns false when `dir` does
// not exist.
bool is_own_dir(const std::string& dir);
// Creates `dir` (a sibling of PGDATA; its parents as needed) private, 0700, or makes an
// existing plain directory 0700. Throws AgentError: kUnsafeData for something other than a
// plain directory there, kFailed when it cannot be created or its mode set.
void make_private_dir(const std::string& dir);

// Removes what an interrupted earlier run left (the staging and run directories) and settles
// an interrupted re-clone's retired directory: moved back to PGDATA when PGDATA is missing or
// empty, removed when PGDATA holds the new clone. Returns true when it changed anything. Never
// removes PGDATA's contents, and never follows or removes a symlink or file planted at one of
// those names (AgentError(kUnsafeData), see is_own_dir).
bool remove_leftovers(const std::string& pgdata);

// Makes the staging directory PGDATA: fsync the tree, rename (PGDATA must be missing or an
// empty directory), fsync the parent. Throws AgentError on failure.
void promote_staging(const std::string& pgdata);

}  // namespace replagent::roles
