#include "probes/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <filesystem>
#include <optional>
#include <system_error>
#include <utility>

namespace replagent::probes {
namespace {

struct GaugeSpec {
  const char* name;
  const char* help;
};

constexpr std::array<GaugeSpec, 18> kGauges{{
    {"replagent_up", "1 when the local PostgreSQL server answered the latest (fresh) poll"},
    {"replagent_role", "1 for the role the server reports (pg_is_in_recovery), 0 for the others"},
    {"replagent_in_recovery",
     "1 when the server is in recovery (a replica); while it is down, the role its data "
     "directory or last poll says"},
    {"replagent_timeline", "The server's current timeline ID"},
    {"replagent_replication_lag_bytes",
     "Primary: bytes between the current WAL position and what each replica was sent, wrote, "
     "flushed, replayed"},
    {"replagent_replication_lag_seconds",
     "Primary: pg_stat_replication write/flush/replay lag per replica; 0 when caught up"},
    {"replagent_replicas_streaming",
     "Primary: number of replicas in state streaming that report a replay position (a clone's "
     "WAL stream does not count); 0 while the server is down"},
    {"replagent_replication_slot_retained_bytes",
     "Primary: WAL bytes kept for each replication slot (current LSN - restart_lsn)"},
    {"replagent_replica_lag_bytes",
     "Replica: bytes behind the primary's end of WAL as the WAL receiver last heard it, received "
     "and replayed; absent while unknown (not streaming, or nothing heard from the primary for "
     "over wal_receiver_timeout/2)"},
    {"replagent_replica_replay_delay_seconds",
     "Replica: seconds since the last replayed transaction, 0 when everything the primary has is "
     "replayed"},
    {"replagent_wal_receiver_streaming",
     "Replica: 1 when the WAL receiver is streaming; 0 while the server is down"},
    {"replagent_filesystem_size_bytes", "Size of the filesystem holding the data directory"},
    {"replagent_filesystem_avail_bytes",
     "Bytes available to PostgreSQL on the filesystem holding the data directory"},
    {"replagent_build_info", "replagent build information (always 1)"},
    {"replagent_tls_certificate_expiry_timestamp_seconds",
     "When the TLS files on disk expire (notAfter, Unix time): certificate server is the first "
     "certificate of postgres.tls_cert_file, ca the first of postgres.tls_ca_file; absent "
     "without TLS"},
    {"replagent_process_open_fds",
     "Open file descriptors of the sidecar process (entries of /proc/self/fd when scraped)"},
    {"pg_up", "1 when the local PostgreSQL server answered (postgres_exporter compatible)"},
    {"pg_replication_lag_seconds",
     "Replica replay delay, 0 on a primary or when caught up (postgres_exporter compatible name, "
     "without its idle-primary growth)"},
}};

// The reasons a poll can fail; created at 0 so rate() and alerts see them from the start.
// "timeout": the local server did not answer within the poller's deadline (a stopped process).
// No "primary" or "resolve" any more: the poller no longer resolves or connects to the primary
// (a replica's lag comes from its WAL receiver), so those could only ever read 0.
constexpr std::array<const char*, 4> kErrorReasons{"connect", "query", "timeout", "statvfs"};

using Labels = std::map<std::string, std::string>;

// Entries of /proc/self/fd now (the descriptor reading the directory included, as Prometheus'
// own process_open_fds counts); nullopt without /proc. A process can always list its own
// /proc/self/fd, also when it made itself not dumpable, which hides it from everyone else.
std::optional<double> open_fds() {
  std::error_code ec;
  double n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++n;
  }
  if (ec) return std::nullopt;
  return n;
}

}  // namespace

void Metrics::set_last_init(const std::string& action, const std::string& reason,
                            std::int64_t unix_seconds) {
  std::lock_guard lock(mutex_);
  prometheus::BuildGauge()
      .Name("replagent_last_init_info")
      .Help(
          "What the last replagent init did with this pod's volume (always 1): action initdb, "
          "clone, reclone (a replica's data replaced), kept or refreshed; reason of a reclone")
      .Register(*registry_)
      .Add({{"action", action}, {"reason", reason}})
      .Set(1);
  prometheus::BuildGauge()
      .Name("replagent_last_init_timestamp_seconds")
      .Help("When the last replagent init on this pod's volume finished (Unix time)")
      .Register(*registry_)
      .Add({})
      .Set(static_cast<double>(unix_seconds));
}

void Metrics::set_tls_expiry(const agent::TlsExpiry& expiry) {
  std::lock_guard lock(mutex_);
  tls_expiry_ = expiry;
}

void Metrics::Series::set(const Labels& labels, double value) {
  family_->Add(labels).Set(value);
  touched_.insert(labels);
}

void Metrics::Series::finish() {
  for (const auto& labels : live_) {
    if (touched_.count(labels) == 0 && family_->Has(labels)) family_->Remove(&family_->Add(labels));
  }
  live_ = std::move(touched_);
  touched_.clear();
}

Metrics::Metrics(std::string version, std::chrono::milliseconds poll_interval)
    : version_(std::move(version)),
      poll_interval_(poll_interval),
      registry_(std::make_shared<prometheus::Registry>()) {
  for (const auto& g : kGauges) {
    auto& family = prometheus::BuildGauge().Name(g.name).Help(g.help).Register(*registry_);
    series_.emplace(g.name, Series(family));
  }
  errors_ = &prometheus::BuildCounter()
                 .Name("replagent_poll_errors_total")
                 .Help(
                     "Failed poll steps of the local server by reason (connect, query, "
                     "timeout, statvfs)")
                 .Register(*registry_);
  for (const char* reason : kErrorReasons) errors_->Add({{"reason", reason}});
  slots_dropped_ = &prometheus::BuildCounter()
                        .Name("replagent_replication_slots_dropped_total")
                        .Help(
                            "Replication slots of pods gone from the headless Service for "
                            "sidecar.slot_drop_after, dropped by this (primary's) sidecar")
                        .Register(*registry_)
                        .Add({});
  auto& durations = prometheus::BuildHistogram()
                        .Name("replagent_poll_duration_seconds")
                        .Help("Wall time of one poll of the local server")
                        .Register(*registry_);
  poll_duration_ = &durations.Add(
      {}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                  0.25, 0.5, 1, 2.5, 5, 10});
}

Metrics::~Metrics() = default;

void Metrics::update(const Snapshot* s, bool fresh) {
  auto& m = series_;
  const bool up = s != nullptr && fresh && s->server_up;
  m.at("replagent_build_info").set({{"version", version_}}, 1);
  if (const auto fds = open_fds()) m.at("replagent_process_open_fds").set({}, *fds);
  for (const auto& [certificate, not_after] :
       {std::pair{"server", tls_expiry_.cert}, std::pair{"ca", tls_expiry_.ca}}) {
    if (!not_after) continue;
    const auto unix_seconds =
        std::chrono::duration_cast<std::chrono::seconds>(not_after->time_since_epoch());
    m.at("replagent_tls_certificate_expiry_timestamp_seconds")
        .set({{"certificate", certificate}}, static_cast<double>(unix_seconds.count()));
  }
  m.at("replagent_up").set({}, up ? 1 : 0);
  m.at("pg_up").set({}, up ? 1 : 0);
  const Role role = s != nullptr && s->server_up ? s->role : Role::kUnknown;
  for (Role r : {Role::kPrimary, Role::kReplica, Role::kUnknown}) {
    m.at("replagent_role").set({{"role", to_string(r)}}, role == r ? 1 : 0);
  }
  if (s != nullptr) {
    if (s->server_up) {
      m.at("replagent_in_recovery").set({}, s->in_recovery ? 1 : 0);
      m.at("replagent_timeline").set({}, s->timeline);
    } else if (s->last_known_role != Role::kUnknown) {
      // Down: the alerts join on it (a replica not streaming), so it stays, from the role the
      // data directory or the last poll says (Snapshot::last_known_role).
      m.at("replagent_in_recovery").set({}, s->last_known_role == Role::kReplica ? 1 : 0);
    }
    if (s->filesystem) {
      m.at("replagent_filesystem_size_bytes")
          .set({}, static_cast<double>(s->filesystem->size_bytes));
      m.at("replagent_filesystem_avail_bytes")
          .set({}, static_cast<double>(s->filesystem->avail_bytes));
    }
  }
  if (s != nullptr && s->server_up && role == Role::kPrimary) {
    int streaming = 0;
    for (const auto& r : s->replicas) {
      // pg_basebackup's WAL stream runs under the cloning pod's name in state streaming too,
      // but never reports a replay position: a clone in progress is not a streaming replica.
      if (r.state == "streaming" && r.replay_lag_bytes) ++streaming;
      const std::pair<const char*, std::optional<std::uint64_t>> bytes[] = {
          {"sent", r.sent_lag_bytes},
          {"write", r.write_lag_bytes},
          {"flush", r.flush_lag_bytes},
          {"replay", r.replay_lag_bytes}};
      for (const auto& [stage, value] : bytes) {
        if (value) {
          m.at("replagent_replication_lag_bytes")
              .set({{"replica", r.application_name}, {"stage", stage}},
                   static_cast<double>(*value));
        }
      }
      const std::pair<const char*, std::optional<double>> secs[] = {
          {"write", lag_seconds_or_zero(r.write_lag_seconds, r.write_lag_bytes)},
          {"flush", lag_seconds_or_zero(r.flush_lag_seconds, r.flush_lag_bytes)},
          {"replay", lag_seconds_or_zero(r.replay_lag_seconds, r.replay_lag_bytes)}};
      for (const auto& [stage, value] : secs) {
        if (value) {
          m.at("replagent_replication_lag_seconds")
              .set({{"replica", r.application_name}, {"stage", stage}}, *value);
        }
      }
    }
    m.at("replagent_replicas_streaming").set({}, streaming);
    for (const auto& slot : s->slots) {
      if (slot.retained_bytes) {
        m.at("replagent_replication_slot_retained_bytes")
            .set({{"slot", slot.name}, {"active", slot.active ? "true" : "false"}},
                 static_cast<double>(*slot.retained_bytes));
      }
    }
    m.at("pg_replication_lag_seconds").set({}, 0);
  }
  // A server that is down streams nothing: its role's streaming series say so with 0 rather
  // than vanish, so "not streaming" and "fewer replicas streaming" alerts keep firing through
  // the outage instead of resolving (and restarting their `for`) when it begins. Series with
  // no value that could mean "down" (lag, slot bytes, timeline) are left out meanwhile;
  // replagent_up == 0 is what says why.
  if (s != nullptr && !s->server_up && s->last_known_role == Role::kPrimary) {
    m.at("replagent_replicas_streaming").set({}, 0);
  }
  if (s != nullptr && !s->server_up && s->last_known_role == Role::kReplica) {
    m.at("replagent_wal_receiver_streaming").set({}, 0);
  }
  if (s != nullptr && s->server_up && role == Role::kReplica) {
    for (const char* stage : {"receive", "replay"}) {
      if (auto lag = replica_lag_bytes(*s, stage)) {
        m.at("replagent_replica_lag_bytes").set({{"stage", stage}}, static_cast<double>(*lag));
      }
    }
    if (s->replay_delay_seconds) {
      m.at("replagent_replica_replay_delay_seconds").set({}, *s->replay_delay_seconds);
      m.at("pg_replication_lag_seconds").set({}, *s->replay_delay_seconds);
    }
    m.at("replagent_wal_receiver_streaming").set({}, s->wal_receiver_status == "streaming" ? 1 : 0);
  }
  if (s != nullptr) {
    for (const auto& [reason, count] : s->error_counts) {
      auto& counter = errors_->Add({{"reason", reason}});
      const double delta = static_cast<double>(count) - counter.Value();
      if (delta > 0) counter.Increment(delta);
    }
    const double dropped = static_cast<double>(s->slots_dropped) - slots_dropped_->Value();
    if (dropped > 0) slots_dropped_->Increment(dropped);
  }
}

void Metrics::observe_poll(const Snapshot& s) {
  std::lock_guard lock(mutex_);
  poll_duration_->Observe(s.poll_duration.count());
}

std::string Metrics::render(const Snapshot* s, std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mutex_);
  const bool polled = s != nullptr && s->sequence != 0;
  const bool fresh = polled && now - s->taken_at <= poll_interval_ * 3;
  update(polled ? s : nullptr, fresh);
  for (auto& [name, series] : series_) series.finish();
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect());
}

}  // namespace replagent::probes
