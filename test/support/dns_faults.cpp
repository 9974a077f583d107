#include "test/support/dns_faults.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "test/support/scratch.hpp"

namespace replagent::test {
namespace fs = std::filesystem;

namespace {

// The length of the header plus the question of a query, or 0 when it is malformed.
std::size_t question_end(const unsigned char* buf, std::size_t n) {
  if (n < 12) return 0;
  std::size_t pos = 12;
  while (pos < n) {
    const unsigned len = buf[pos];
    if (len == 0) {
      pos += 1;
      break;
    }
    if ((len & 0xc0) != 0) return 0;  // queries carry no compressed names
    pos += 1 + len;
  }
  pos += 4;  // type, class
  return pos <= n ? pos : 0;
}

int rcode_of(FaultyUpstream::Mode mode) {
  switch (mode) {
    case FaultyUpstream::Mode::kServfail:
      return 2;
    case FaultyUpstream::Mode::kNxdomain:
      return 3;
    case FaultyUpstream::Mode::kRefused:
      return 5;
    case FaultyUpstream::Mode::kSilent:
      break;
  }
  return -1;
}

}  // namespace

const char* to_string(FaultyUpstream::Mode mode) {
  switch (mode) {
    case FaultyUpstream::Mode::kServfail:
      return "SERVFAIL";
    case FaultyUpstream::Mode::kRefused:
      return "REFUSED";
    case FaultyUpstream::Mode::kNxdomain:
      return "NXDOMAIN";
    case FaultyUpstream::Mode::kSilent:
      return "silent";
  }
  return "?";
}

std::string sibling_ip(const std::string& ip, int last) {
  const auto dot = ip.rfind('.');
  if (dot == std::string::npos) throw std::invalid_argument("not an IPv4 address: " + ip);
  return ip.substr(0, dot + 1) + std::to_string(last);
}

FaultyUpstream::FaultyUpstream(const std::string& ip, std::uint16_t port, Mode mode)
    : ip_(ip), port_(port), mode_(mode) {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd_);
    throw std::runtime_error("cannot bind the fault DNS upstream to " + ip + ":" +
                             std::to_string(port) + ": " + std::strerror(err));
  }
  thread_ = std::thread([this] { serve(); });
}

FaultyUpstream::~FaultyUpstream() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
}

void FaultyUpstream::serve() {
  unsigned char buf[1500];
  while (!stop_) {
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 50) != 1) continue;
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    const ssize_t n =
        ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n <= 0) continue;
    ++queries_;
    const int rcode = rcode_of(mode_);
    if (rcode < 0) continue;  // silent: read and never answer
    const std::size_t end = question_end(buf, static_cast<std::size_t>(n));
    if (end == 0) continue;
    // The header with QR and RA set and the rcode, the question echoed, no records (the
    // query's EDNS OPT record is dropped: arcount 0).
    unsigned char reply[1500];
    std::memcpy(reply, buf, end);
    reply[2] = static_cast<unsigned char>(0x80 | (buf[2] & 0x79));  // QR, opcode, RD
    reply[3] = static_cast<unsigned char>(0x80 | rcode);            // RA, rcode
    std::memset(reply + 6, 0, 6);                                   // an, ns, ar counts
    ::sendto(fd_, reply, end, 0, reinterpret_cast<sockaddr*>(&from), from_len);
  }
}

FaultyDns::FaultyDns(const fs::path& dir, const std::string& ip, const std::string& upstream_ip,
                     std::uint16_t port, FaultyUpstream::Mode mode)
    : upstream_(std::make_unique<FaultyUpstream>(upstream_ip, port, mode)),
      dns_(dir, ip, port, "faulty-dns", upstream_ip + "#" + std::to_string(port)) {}

}  // namespace replagent::test
