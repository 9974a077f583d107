#pragma once

// The /metrics exposition (DESIGN.md "Metrics"): a prometheus-cpp registry brought in line
// with the latest snapshot at scrape time, rendered in the text format. Series whose subject
// disappeared (a replica that left, a slot that was dropped, primary-only series after a
// role change) are removed, not left at their last value. While the local server is down the
// series alerts join on stay, with a value that says so (DESIGN.md): replagent_in_recovery from
// Snapshot::last_known_role, and that role's streaming series at 0 (replagent_replicas_streaming
// on a primary, replagent_wal_receiver_streaming on a replica).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "agent/tls.hpp"
#include "probes/snapshot.hpp"

namespace prometheus {
class Registry;
class Histogram;
template <typename T>
class Family;
class Gauge;
class Counter;
}  // namespace prometheus

namespace replagent::probes {

class Metrics {
 public:
  Metrics(std::string version, std::chrono::milliseconds poll_interval);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Updates the registry from `s` (nullptr: nothing polled yet) and renders it. Thread-safe.
  std::string render(const Snapshot* s, std::chrono::steady_clock::time_point now);

  // Records one poll's duration in the histogram. Called by the poller for every poll, not at
  // scrape time, so polls between two scrapes are all counted. Thread-safe.
  void observe_poll(const Snapshot& s);

  // What the last `replagent init` did with this pod's volume (roles::InitRecord), set once at
  // start: replagent_last_init_info{action,reason} 1 and replagent_last_init_timestamp_seconds.
  // action="reclone" means a replica's data was replaced by a new clone. Thread-safe.
  void set_last_init(const std::string& action, const std::string& reason,
                     std::int64_t unix_seconds);

  // When the TLS certificate and CA files on disk expire (agent::read_tls_expiry), set after
  // each poll while TLS is on: replagent_tls_certificate_expiry_timestamp_seconds with
  // certificate="server" or "ca", notAfter as Unix time. One without a value (TLS off, a file
  // that holds no certificate) has no series. Thread-safe.
  void set_tls_expiry(const agent::TlsExpiry& expiry);

 private:
  // One gauge family and the label sets set during the current update; the rest are removed
  // when the update ends.
  class Series {
   public:
    explicit Series(prometheus::Family<prometheus::Gauge>& family) : family_(&family) {}
    void set(const std::map<std::string, std::string>& labels, double value);
    void finish();

   private:
    prometheus::Family<prometheus::Gauge>* family_;
    std::set<std::map<std::string, std::string>> live_, touched_;
  };

  void update(const Snapshot* s, bool fresh);

  std::mutex mutex_;
  std::string version_;
  std::chrono::milliseconds poll_interval_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::map<std::string, Series> series_;
  agent::TlsExpiry tls_expiry_;
  prometheus::Family<prometheus::Counter>* errors_ = nullptr;
  prometheus::Counter* slots_dropped_ = nullptr;
  prometheus::Histogram* poll_duration_ = nullptr;
};

}  // namespace replagent::probes
