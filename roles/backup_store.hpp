// The backup directory as an effect: the lock, what is in it, checksums, removals. Only
// names parse_backup_file_name accepts for our set are ever changed.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/fs.hpp"
#include "roles/backup_naming.hpp"

namespace replagent::roles {

// Backups hold every row of the application's database: they are 0600 files (the .dump, its
// .sha256 and .counts, the lock) in a 0700 backup.dir, whatever the umask.

// Creates backup.dir 0700 (its parents as needed). An existing one that others may enter or
// list is tightened to 0700 with a warning; when that chmod fails (a volume root owned by
// root), the warning says so and the run goes on: the files in it are 0600 regardless.
// Throws AgentError(kCloneFailed) when the directory cannot be created or is not a directory.
void prepare_backup_dir(const std::string& dir);

// Creates `path` empty and 0600; fails (AgentError(kCloneFailed)) when anything exists there,
// a symlink included. pg_dump -f opens an existing file with O_TRUNC and keeps its mode, so
// the dump written into it is never readable by others.
void create_private_file(const std::string& path);

// flock(LOCK_EX | LOCK_NB) on <dir>/.lock, held until destruction (or the process ends: the
// kernel drops a flock with its last descriptor, so a SIGKILLed run never leaves a stale lock).
class BackupLock {
 public:
  // nullopt when another process holds it. Throws AgentError for I/O errors.
  static std::optional<BackupLock> try_acquire(const std::string& dir);

 private:
  explicit BackupLock(agent::UniqueFd fd) : fd_(std::move(fd)) {}
  agent::UniqueFd fd_;
};

struct BackupDirScan {
  std::vector<BackupEntry> backups;  // complete .dump files of our set
  // Ours but not a complete backup: .partial files and companions whose .dump is gone (a run
  // that was killed). Safe to remove while holding the lock.
  std::vector<std::string> leftovers;
};
// Throws AgentError(kCloneFailed) when the directory cannot be read.
BackupDirScan scan_backup_dir(const std::string& dir, const std::string& set);

// Lower-case hex SHA-256 of a file's contents (OpenSSL EVP). Throws AgentError.
std::string sha256_file(const std::string& path);

// fsyncs a file's data (after pg_dump closed it). Throws AgentError.
void fsync_file(const std::string& path);

// Removes a backup's .dump and its companions; returns false (and logs) when one could not be
// removed.
bool remove_backup(const std::string& dir, const std::string& dump_name);

// Reads a small text file; nullopt when missing or unreadable.
std::optional<std::string> read_text_file(const std::string& path);

}  // namespace replagent::roles
