#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace replagent::agent {

// Owns a file descriptor; closes it once.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Durable file-system steps for data that must survive a crash (the clone, the passfile).
// All throw AgentError(kFailed) with the path and errno text.
std::vector<char> read_file_bytes(const std::string& path);
void write_all(int fd, const char* data, std::size_t size, const std::string& path_for_errors);
// Writes `content` to `path` via a temporary file + fsync + rename, with `mode`. The temporary
// file beside `path` gets a fresh random name and is created by this call (O_CREAT | O_EXCL |
// O_NOFOLLOW) with `mode` set before the first byte is written: a file or symlink someone
// planted there is never opened, written through or renamed into place, and the content (often
// a password) is never readable under a wider mode than `mode`. A crash between create and
// rename leaves `<path>.replagent-tmp-<random>` behind.
void write_file_atomic(const std::string& path, const std::string& content, unsigned mode);
void fsync_dir(const std::string& dir);
// fsyncs every file and directory below `root` (and root), so a rename that follows is
// durable together with what it names.
void fsync_tree(const std::string& root);
// True when `dir` does not exist or is an empty directory.
bool is_empty_dir(const std::string& dir);

namespace detail {
// write_file_atomic with the temporary names supplied by the caller (tests plant files at
// them): each name is tried once; a name that exists is skipped, never reused; gives up after
// `attempts` names.
void write_file_atomic(const std::string& path, const std::string& content, unsigned mode,
                       const std::function<std::string()>& next_temp_name, int attempts);
}  // namespace detail

}  // namespace replagent::agent
