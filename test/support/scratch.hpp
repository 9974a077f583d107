// Per-test scratch space, loopback addresses and ports, and small file helpers.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace replagent::test {

// $TMPDIR/replagent-test-XXXXXX. Removed by the destructor unless keep() was called (a failed
// test). When kept but larger than 256 MB, its data directories (anything named "pgdata" or
// ".pgdata*") are removed anyway, so failed clone tests leave logs, not gigabytes, behind.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  void keep() { keep_ = true; }
  bool kept() const { return keep_; }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

// Addresses for one test: 127.<a>.<b>.x (never 127.0.0.x, which other software uses) and one
// port, chosen from the pid and a per-process counter so two test processes (ctest -j2) do not
// collide, and checked free by bind().
struct LoopbackNet {
  int a = 0;
  int b = 0;
  std::uint16_t port = 0;      // PostgreSQL, on every pod (as in the chart)
  std::uint16_t dns_port = 0;  // dnsmasq, on dns_ip()
  std::string dns_ip() const { return ip(2); }
  std::string pod_ip(int ordinal) const { return ip(10 + ordinal); }
  std::string ip(int last) const;
};
LoopbackNet allocate_loopback_net(int max_pods);

std::string read_file(const std::filesystem::path& p);
// Atomic (write a sibling temporary, rename), mode 0600.
void write_file(const std::filesystem::path& p, const std::string& content);
// The last `lines` lines of a file, or a note that it is missing.
std::string tail_file(const std::filesystem::path& p, int lines);
std::string random_token(std::size_t length);
// Total size of regular files under `dir` (0 when missing).
std::uintmax_t tree_size(const std::filesystem::path& dir);
// "relative/path size mtime_ns mode" per entry, sorted: compares a directory before and after.
std::string tree_listing(const std::filesystem::path& dir);
// st_ino, 0 when missing: tells a kept directory from one replaced by a rename.
std::uint64_t inode_of(const std::filesystem::path& p);
std::string to_lower(std::string s);
bool contains_ci(const std::string& haystack, const std::string& needle);

// Polls `pred` every `interval` until it is true or `timeout` passed; returns the last value.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(100));

}  // namespace replagent::test
