#include "test/support/scratch.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace replagent::test {
namespace fs = std::filesystem;

ScratchDir::ScratchDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/replagent-test-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + templ + ": " + std::strerror(errno));
  }
  path_ = buf.data();
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  if (!keep_) {
    fs::remove_all(path_, ec);
    return;
  }
  // A failed test's data directories help debugging, but a clone test's are 100+ MB: keep
  // them only while the whole scratch directory stays small.
  constexpr std::uintmax_t kKeepDataUpTo = 256u << 20;
  if (tree_size(path_) <= kKeepDataUpTo) return;
  std::vector<fs::path> data_dirs;
  for (auto it = fs::recursive_directory_iterator(path_, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->is_directory() && (name == "pgdata" || name.rfind(".pgdata", 0) == 0)) {
      data_dirs.push_back(it->path());
      it.disable_recursion_pending();
    }
  }
  for (const auto& d : data_dirs) fs::remove_all(d, ec);
}

std::string LoopbackNet::ip(int last) const {
  return "127." + std::to_string(a) + "." + std::to_string(b) + "." + std::to_string(last);
}

namespace {

bool can_bind(const std::string& ip, std::uint16_t port, int type) {
  int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

LoopbackNet allocate_loopback_net(int max_pods) {
  static unsigned counter = 0;
  const unsigned pid = static_cast<unsigned>(::getpid());
  for (int attempt = 0; attempt < 64; ++attempt) {
    // pid * 16 + counter spreads concurrent processes over 254 * 256 subnets and ports.
    const unsigned n = pid * 16 + counter++;
    LoopbackNet net;
    net.a = 1 + static_cast<int>((n >> 8) % 254);
    net.b = static_cast<int>(n & 0xff);
    net.port = static_cast<std::uint16_t>(20000 + (n * 7) % 20000);
    net.dns_port = static_cast<std::uint16_t>(40000 + (n * 7) % 20000);
    bool free = can_bind(net.dns_ip(), net.dns_port, SOCK_DGRAM) &&
                can_bind(net.dns_ip(), net.dns_port, SOCK_STREAM);
    for (int i = 0; free && i < max_pods; ++i) {
      free = can_bind(net.pod_ip(i), net.port, SOCK_STREAM);
    }
    if (free) return net;
  }
  throw std::runtime_error("no free loopback subnet/port found");
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& p, const std::string& content) {
  fs::path tmp = p;
  tmp += ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
    out << content;
  }
  fs::permissions(tmp, fs::perms::owner_read | fs::perms::owner_write);
  fs::rename(tmp, p);
}

std::string tail_file(const fs::path& p, int lines) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return "(" + p.string() + ": missing)\n";
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(std::move(line));
  std::string out;
  std::size_t start = all.size() > static_cast<std::size_t>(lines) ? all.size() - lines : 0;
  for (std::size_t i = start; i < all.size(); ++i) out += all[i] + "\n";
  return out.empty() ? "(empty)\n" : out;
}

std::string random_token(std::size_t length) {
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::random_device rd;
  std::uniform_int_distribution<std::size_t> pick(0, sizeof kAlphabet - 2);
  std::string s;
  for (std::size_t i = 0; i < length; ++i) s += kAlphabet[pick(rd)];
  return s;
}

std::uintmax_t tree_size(const fs::path& dir) {
  std::uintmax_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code ec2;
    if (it->is_regular_file(ec2)) total += it->file_size(ec2);
  }
  return total;
}

std::string tree_listing(const fs::path& dir) {
  std::vector<std::string> lines;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    std::ostringstream line;
    line << fs::relative(it->path(), dir).string() << " size=" << st.st_size
         << " mtime=" << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec << " mode=" << std::oct
         << st.st_mode;
    lines.push_back(line.str());
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

std::uint64_t inode_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return st.st_ino;
}

std::string to_lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool contains_ci(const std::string& haystack, const std::string& needle) {
  return to_lower(haystack).find(to_lower(needle)) != std::string::npos;
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

}  // namespace replagent::test
