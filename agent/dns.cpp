#include "agent/dns.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "agent/errors.hpp"
#include "agent/signals.hpp"
#include "agent/units.hpp"

namespace replagent::agent {
namespace {

// DNS class IN and type A (RFC 1035); spelt out rather than taken from <arpa/nameser.h>,
// whose ns_* enums differ between libcs.
constexpr int kClassIn = 1;
constexpr int kTypeA = 1;
constexpr int kTypeAaaa = 28;  // RFC 3596
// An A answer for one pod name has one address; a headless Service one per pod.
constexpr int kMaxAddresses = 256;

struct ChannelDeleter {
  void operator()(ares_channel ch) const { ares_destroy(ch); }
};
using ChannelPtr = std::unique_ptr<std::remove_pointer_t<ares_channel>, ChannelDeleter>;

void init_library_once() {
  static std::once_flag once;
  static int status = ARES_SUCCESS;
  std::call_once(once, [] { status = ares_library_init(ARES_LIB_INIT_ALL); });
  if (status != ARES_SUCCESS) {
    throw std::runtime_error(std::string("cannot initialise c-ares: ") + ares_strerror(status));
  }
}

// "ip" or "ip:port" (also "[v6]:port" and bare IPv6, which c-ares accepts). Checked here, not
// left to c-ares, so the error names the one bad entry and a port like 99999 cannot wrap.
bool valid_server(const std::string& entry) {
  auto valid_port = [](const std::string& p) {
    if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) {
      return false;
    }
    const int port = std::stoi(p);
    return port >= 1 && port <= 65535;
  };
  unsigned char buf[sizeof(in6_addr)];
  if (!entry.empty() && entry.front() == '[') {
    const auto close = entry.find(']');
    if (close == std::string::npos) return false;
    const std::string ip = entry.substr(1, close - 1);
    const std::string rest = entry.substr(close + 1);
    if (inet_pton(AF_INET6, ip.c_str(), buf) != 1) return false;
    return rest.empty() || (rest.front() == ':' && valid_port(rest.substr(1)));
  }
  const auto colons = std::count(entry.begin(), entry.end(), ':');
  if (colons > 1) return inet_pton(AF_INET6, entry.c_str(), buf) == 1;
  const auto colon = entry.find(':');
  const std::string ip = entry.substr(0, colon);
  if (inet_pton(AF_INET, ip.c_str(), buf) != 1) return false;
  return colon == std::string::npos || valid_port(entry.substr(colon + 1));
}

// c-ares 1.18 opens its sockets without O_CLOEXEC; a child started while a query is in
// flight (another thread running pg_basebackup) must not inherit them.
int set_cloexec(ares_socket_t fd, int /*type*/, void* /*data*/) {
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  return 0;
}

DnsStatus map_status(int status) {
  switch (status) {
    case ARES_SUCCESS:
      return DnsStatus::kOk;
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
      return DnsStatus::kNotFound;
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
      return DnsStatus::kServerFailure;
    case ARES_ETIMEOUT:
      return DnsStatus::kTimeout;
    default:
      return DnsStatus::kError;
  }
}

struct Query {
  bool done = false;
  int type = kTypeA;
  int status = ARES_SUCCESS;  // c-ares' own, to tell "no such name" from "no such record"
  DnsAnswer answer;
  const std::string* servers = nullptr;  // who was asked, for the failure's detail
  std::chrono::milliseconds timeout{0};
};

// What a failed lookup's log line and error message say: the DNS rcode by its RFC name (what
// `dig` and CoreDNS's logs show), which servers, and for a timeout how long we waited, so a
// broken cluster DNS is not mistaken for a pod that does not exist yet.
std::string failure_detail(int status, const Query& q) {
  const std::string servers = q.servers != nullptr ? *q.servers : "the DNS server";
  switch (status) {
    case ARES_ESERVFAIL:
      return "SERVFAIL from " + servers + ": the DNS server failed to answer";
    case ARES_EREFUSED:
      return "REFUSED by " + servers;
    case ARES_ETIMEOUT:
      return "no answer from " + servers + " within dns.timeout (" + format_duration(q.timeout) +
             ")";
    case ARES_ENOTFOUND:
      return "NXDOMAIN from " + servers + ": no such name";
    default:
      return ares_strerror(status);
  }
}

// "ip:port, ..." of the channel's servers (the configured ones or /etc/resolv.conf's).
std::string describe_servers(ares_channel channel) {
  ares_addr_port_node* list = nullptr;
  if (ares_get_servers_ports(channel, &list) != ARES_SUCCESS) return "the DNS server";
  std::string out;
  for (auto* n = list; n != nullptr; n = n->next) {
    char text[INET6_ADDRSTRLEN] = "?";
    ares_inet_ntop(n->family, &n->addr, text, sizeof text);
    const int port = n->udp_port != 0 ? n->udp_port : 53;
    if (!out.empty()) out += ", ";
    out += n->family == AF_INET6 ? "[" + std::string(text) + "]:" + std::to_string(port)
                                 : std::string(text) + ":" + std::to_string(port);
  }
  ares_free_data(list);
  return out.empty() ? "no DNS server" : out;
}

void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  auto* q = static_cast<Query*>(arg);
  q->done = true;
  q->status = status;
  if (status != ARES_SUCCESS) {
    q->answer.status = map_status(status);
    q->answer.detail = failure_detail(status, *q);
    return;
  }
  // The TTLs are parsed (c-ares needs the buffers) but not kept: every caller asks again on
  // its next round rather than caching, so a moved pod is seen at once.
  int count = kMaxAddresses;
  int parsed = ARES_SUCCESS;
  if (q->type == kTypeA) {
    ares_addrttl ttls[kMaxAddresses];
    parsed = ares_parse_a_reply(abuf, alen, nullptr, ttls, &count);
    for (int i = 0; parsed == ARES_SUCCESS && i < count; ++i) {
      char text[INET_ADDRSTRLEN];
      if (inet_ntop(AF_INET, &ttls[i].ipaddr, text, sizeof text) != nullptr)
        q->answer.addresses.emplace_back(text);
    }
  } else {
    ares_addr6ttl ttls[kMaxAddresses];
    parsed = ares_parse_aaaa_reply(abuf, alen, nullptr, ttls, &count);
    for (int i = 0; parsed == ARES_SUCCESS && i < count; ++i) {
      char text[INET6_ADDRSTRLEN];
      if (inet_ntop(AF_INET6, &ttls[i].ip6addr, text, sizeof text) != nullptr)
        q->answer.addresses.emplace_back(text);
    }
  }
  if (parsed != ARES_SUCCESS) {
    // ENODATA here: the name exists but has no record of this type (a CNAME to nothing).
    q->status = parsed;
    q->answer.status =
        map_status(parsed) == DnsStatus::kNotFound ? DnsStatus::kNotFound : DnsStatus::kError;
    q->answer.detail = ares_strerror(parsed);
    return;
  }
  const char* record = q->type == kTypeA ? "A" : "AAAA";
  if (q->answer.addresses.empty()) q->status = ARES_ENODATA;
  q->answer.status = q->answer.addresses.empty() ? DnsStatus::kNotFound : DnsStatus::kOk;
  q->answer.detail = q->answer.addresses.empty() ? fmt::format("no {} record", record) : "";
}

// One channel, used by one thread at a time (c-ares channels are not thread-safe).
class CaresResolver final : public Resolver {
 public:
  CaresResolver(ChannelPtr channel, std::chrono::milliseconds timeout, StopToken stop)
      : channel_(std::move(channel)),
        servers_(describe_servers(channel_.get())),
        timeout_(timeout),
        stop_(stop) {}

  DnsAnswer resolve_ipv4(const std::string& name) override {
    Query a = query(name, kTypeA);
    // NXDOMAIN, SERVFAIL or a timeout would be the same for AAAA (or mean DNS is broken): only
    // a name that exists without A records (NOERROR, no data) is asked for AAAA.
    if (a.status != ARES_ENODATA) return a.answer;
    Query aaaa = query(name, kTypeAaaa);
    if (aaaa.answer.status == DnsStatus::kOk) return aaaa.answer;
    if (aaaa.status == ARES_ENODATA) aaaa.answer.detail = "no A or AAAA record";
    return aaaa.answer;
  }

 private:
  Query query(const std::string& name, int type) {
    Query q;
    q.type = type;
    q.servers = &servers_;
    q.timeout = timeout_;
    ares_query(channel_.get(), name.c_str(), kClassIn, type, on_answer, &q);
    const int stop = stop_.fd();
    while (!q.done) {
      ares_socket_t socks[ARES_GETSOCK_MAXNUM];
      const int mask = ares_getsock(channel_.get(), socks, ARES_GETSOCK_MAXNUM);
      std::vector<pollfd> fds;
      for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
        short events = 0;
        if (ARES_GETSOCK_READABLE(mask, i)) events |= POLLIN;
        if (ARES_GETSOCK_WRITABLE(mask, i)) events |= POLLOUT;
        if (events != 0) fds.push_back({socks[i], events, 0});
      }
      // The stop pipe too: SIGTERM ends a pending query at once (ARES_ECANCELLED).
      fds.push_back({stop, POLLIN, 0});

      timeval max{1, 0};
      timeval tv{};
      const timeval* next = ares_timeout(channel_.get(), &max, &tv);
      const int wait_ms = static_cast<int>(next->tv_sec * 1000 + (next->tv_usec + 999) / 1000);
      const int rc = ::poll(fds.data(), fds.size(), wait_ms);
      if (rc < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        ares_cancel(channel_.get());  // completes q with ARES_ECANCELLED
        q.answer.detail = std::string("poll failed: ") + std::strerror(err);
        break;
      }
      if (fds.back().revents != 0) {
        ares_cancel(channel_.get());
        break;
      }
      bool any = false;
      for (std::size_t i = 0; i + 1 < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        any = true;
        const bool readable = (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
        const bool writable = (fds[i].revents & POLLOUT) != 0;
        ares_process_fd(channel_.get(), readable ? fds[i].fd : ARES_SOCKET_BAD,
                        writable ? fds[i].fd : ARES_SOCKET_BAD);
      }
      if (!any) ares_process_fd(channel_.get(), ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
    }
    return q;
  }

  ChannelPtr channel_;
  std::string servers_;
  std::chrono::milliseconds timeout_;
  StopToken stop_;  // a stop cancels a pending query (ARES_ECANCELLED)
};

}  // namespace

bool is_ip_literal(const std::string& text) {
  in_addr a{};
  return inet_pton(AF_INET, text.c_str(), &a) == 1 || is_ipv6_literal(text);
}

bool is_ipv6_literal(const std::string& text) {
  in6_addr a{};
  return inet_pton(AF_INET6, text.c_str(), &a) == 1;
}

std::string bracket_ipv6(const std::string& host) {
  return is_ipv6_literal(host) ? "[" + host + "]" : host;
}

std::string host_port(const std::string& host, int port) {
  return bracket_ipv6(host) + ":" + std::to_string(port);
}

const char* to_string(DnsStatus s) {
  switch (s) {
    case DnsStatus::kOk:
      return "ok";
    case DnsStatus::kNotFound:
      return "not found";
    case DnsStatus::kServerFailure:
      return "server failure";
    case DnsStatus::kTimeout:
      return "timeout";
    case DnsStatus::kError:
      return "error";
  }
  return "unknown";
}

std::unique_ptr<Resolver> make_cares_resolver(const std::vector<std::string>& servers,
                                              std::chrono::milliseconds timeout, StopToken stop) {
  init_library_once();
  std::string csv;
  for (const auto& s : servers) {
    if (!valid_server(s)) {
      throw usage_error("dns.servers: '" + s +
                        "' is not a DNS server address (expected ip or ip:port, e.g. "
                        "10.96.0.10 or 127.0.0.1:5353)");
    }
    csv += (csv.empty() ? "" : ",") + s;
  }

  ares_options opts{};
  // One try with our timeout: the caller's loop owns retries and backoff (and logs them).
  opts.timeout = static_cast<int>(timeout.count());
  opts.tries = 1;
  // Names are absolute: no search domains, ndots 1, and never /etc/hosts ("b" = DNS only),
  // so a stale hosts entry or the pod's own search path cannot answer for the primary.
  opts.ndots = 1;
  opts.domains = nullptr;
  opts.ndomains = 0;
  char lookups[] = "b";
  opts.lookups = lookups;
  // Hand SERVFAIL/REFUSED back as such: without this flag c-ares 1.18 drops the reply, moves
  // on and finally reports ECONNREFUSED ("could not contact DNS servers"), which hides a
  // broken cluster DNS behind a network error. Our caller retries anyway.
  opts.flags = ARES_FLAG_NOCHECKRESP;
  const int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_NDOTS |
                   ARES_OPT_DOMAINS | ARES_OPT_LOOKUPS;

  ares_channel raw = nullptr;
  const int status = ares_init_options(&raw, &opts, mask);
  if (status != ARES_SUCCESS) {
    if (raw != nullptr) ares_destroy(raw);
    throw std::runtime_error(std::string("cannot initialise the DNS resolver: ") +
                             ares_strerror(status));
  }
  ChannelPtr channel(raw);
  ares_set_socket_configure_callback(channel.get(), set_cloexec, nullptr);
  if (!csv.empty()) {
    const int rc = ares_set_servers_ports_csv(channel.get(), csv.c_str());
    if (rc != ARES_SUCCESS) {
      throw usage_error("dns.servers: c-ares rejected '" + csv + "': " + ares_strerror(rc));
    }
  }
  return std::make_unique<CaresResolver>(std::move(channel), timeout, stop);
}

}  // namespace replagent::agent
