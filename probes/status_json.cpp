// The /status document. Hand-written JSON (a handful of fields, no parser needed here);
// strings go through agent::json_escape.
#include <fmt/format.h>

#include <ctime>

#include "agent/logging.hpp"
#include "agent/pg.hpp"
#include "probes/routes.hpp"

namespace replagent::probes {
namespace {

std::string str(const std::string& s) {
  // Appended piecewise: GCC 12 warns (-Wrestrict, a known false positive) on "\"" + string.
  std::string out(1, '"');
  out += agent::json_escape(s);
  out += '"';
  return out;
}

template <typename T>
std::string opt_num(const std::optional<T>& v) {
  return v ? fmt::format("{}", *v) : "null";
}

std::string opt_lsn(const std::optional<std::uint64_t>& v) {
  return v ? str(agent::format_lsn(*v)) : "null";
}

std::string iso_utc(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string replica_json(const ReplicaRow& r) {
  return fmt::format(
      "{{\"application_name\":{},\"state\":{},\"lag_bytes\":{{\"sent\":{},\"write\":{},"
      "\"flush\":{},\"replay\":{}}},\"lag_seconds\":{{\"write\":{},\"flush\":{},\"replay\":{}}}}}",
      str(r.application_name), str(r.state), opt_num(r.sent_lag_bytes), opt_num(r.write_lag_bytes),
      opt_num(r.flush_lag_bytes), opt_num(r.replay_lag_bytes),
      opt_num(lag_seconds_or_zero(r.write_lag_seconds, r.write_lag_bytes)),
      opt_num(lag_seconds_or_zero(r.flush_lag_seconds, r.flush_lag_bytes)),
      opt_num(lag_seconds_or_zero(r.replay_lag_seconds, r.replay_lag_bytes)));
}

std::string slot_json(const SlotRow& s) {
  return fmt::format("{{\"name\":{},\"active\":{},\"retained_bytes\":{}}}", str(s.name),
                     s.active ? "true" : "false", opt_num(s.retained_bytes));
}

template <typename Rows, typename Fn>
std::string array(const Rows& rows, Fn fn) {
  std::string out = "[";
  for (const auto& row : rows) {
    if (out.size() > 1) out += ",";
    out += fn(row);
  }
  return out + "]";
}

}  // namespace

std::string status_json(const Snapshot* s, SteadyTime now, const RouteParams& p,
                        StatusDetail detail) {
  const bool full = detail == StatusDetail::kFull;
  // An error text as it is for the token holder, its category for everyone else.
  const auto error = [full](const std::string& text) {
    return str(full ? text : error_category(text));
  };
  std::string out = "{";
  out += "\"pod\":" + str(p.pod_name);
  out += ",\"ordinal\":" + opt_num(p.ordinal);
  if (p.last_init) {
    out += ",\"last_init\":{\"action\":" + str(p.last_init->action) +
           ",\"reason\":" + (p.last_init->reason.empty() ? "null" : str(p.last_init->reason)) +
           ",\"time\":" + str(iso_utc(std::chrono::system_clock::from_time_t(p.last_init->time))) +
           ",\"message\":" + (full ? str(p.last_init->message) : "null") + "}";
  }
  const auto stale = staleness(s, now, p);
  out += fmt::format(",\"stale\":{}", stale ? "true" : "false");
  if (stale) out += ",\"stale_reason\":" + str(stale->reason);
  if (s == nullptr || s->sequence == 0) return out + ",\"role\":\"unknown\"}";
  out += fmt::format(",\"snapshot_age_seconds\":{:.3f}",
                     std::chrono::duration<double>(now - s->taken_at).count());
  out += ",\"taken_at\":" + str(iso_utc(s->taken_at_wall));
  out += fmt::format(",\"poll\":{},\"poll_duration_seconds\":{:.6f}", s->sequence,
                     s->poll_duration.count());
  out += fmt::format(",\"server_up\":{}", s->server_up ? "true" : "false");
  if (!s->server_error.empty()) out += ",\"server_error\":" + error(s->server_error);
  out += ",\"role\":" + str(to_string(s->role));
  out += fmt::format(",\"in_recovery\":{}", s->in_recovery ? "true" : "false");
  out += ",\"system_identifier\":" +
         (s->system_identifier ? str(std::to_string(s->system_identifier)) : "null");
  out += fmt::format(",\"timeline\":{}", s->timeline);
  out += ",\"lsn\":{\"current\":" + opt_lsn(s->current_lsn) +
         ",\"receive\":" + opt_lsn(s->receive_lsn) + ",\"replay\":" + opt_lsn(s->replay_lsn) +
         ",\"primary\":" + opt_lsn(primary_position(*s)) + "}";
  if (s->role == Role::kReplica) {
    out += ",\"wal_receiver_status\":" +
           (s->wal_receiver_status.empty() ? "null" : str(s->wal_receiver_status));
    out += ",\"lag_bytes\":{\"receive\":" + opt_num(replica_lag_bytes(*s, "receive")) +
           ",\"replay\":" + opt_num(replica_lag_bytes(*s, "replay")) + "}";
    out += ",\"replay_delay_seconds\":" + opt_num(s->replay_delay_seconds);
    // How long the WAL receiver has not heard from the primary; with primary_error (why the
    // primary's position and so the lag are unknown: snapshot.hpp, primary_view()).
    out += ",\"primary_silence_seconds\":" +
           (s->primary_silence_seconds ? fmt::format("{:.3f}", *s->primary_silence_seconds)
                                       : std::string("null"));
    if (!s->primary_error.empty()) out += ",\"primary_error\":" + error(s->primary_error);
  }
  if (s->role == Role::kPrimary) {
    out += ",\"replicas\":" + array(s->replicas, replica_json);
    out += ",\"slots\":" + array(s->slots, slot_json);
  }
  if (s->filesystem) {
    out += fmt::format(",\"filesystem\":{{\"size_bytes\":{},\"avail_bytes\":{}}}",
                       s->filesystem->size_bytes, s->filesystem->avail_bytes);
  }
  out += ",\"errors\":{";
  bool first = true;
  for (const auto& [reason, count] : s->error_counts) {
    out += fmt::format("{}{}:{}", first ? "" : ",", str(reason), count);
    first = false;
  }
  return out + "}}\n";
}

}  // namespace replagent::probes
