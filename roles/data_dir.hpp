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

// Reads PGDATA without changing anything.
DataDirState inspect_data_dir(const std::string& pgdata);

// The directories init works in, beside PGDATA on the same volume so that the final rename
// is atomic. Hidden (dot) names: never a PGDATA that PostgreSQL or the image would start from.
std::string staging_dir_for(const std::string& pgdata);  // clone / initdb target
std::string retired_dir_for(const std::string& pgdata);  // old data moved aside by a re-clone
std::string run_dir_for(const std::string& pgdata);      // private 0700: passfiles, sockets

// Removes what an interrupted earlier run left (the staging and run directories) and settles
// an interrupted re-clone's retired directory: moved back to PGDATA when PGDATA is missing or
// empty, removed when PGDATA holds the new clone. Returns true when it changed anything. Never
// removes PGDATA's contents.
bool remove_leftovers(const std::string& pgdata);

// Makes the staging directory PGDATA: fsync the tree, rename (PGDATA must be missing or an
// empty directory), fsync the parent. Throws AgentError on failure.
void promote_staging(const std::string& pgdata);

}  // namespace replagent::roles
