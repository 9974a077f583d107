#include "probes/queries.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <set>

namespace replagent::probes {

// Every function, operator, type and relation is schema-qualified (the session's search_path
// is pg_catalog, pg_temp as well, agent/pg.cpp): nothing a database owner plants in `public`
// can stand in for them.
//
// Timeline: on a primary the current WAL file name carries it (pg_control_checkpoint() is
// only as new as the last checkpoint, which after a promotion can still be the old one); on
// a replica the WAL receiver's received_tli, else the last restartpoint's.
//
// A replica's view of the primary is all local (snapshot.hpp, primary_view()): the WAL
// receiver's latest_end_lsn, how long since it last heard from the primary (by this server's
// clock: no skew), and the wal_receiver_timeout that bounds that silence on a live connection.
const char* const kLocalStatusSql = R"sql(
SELECT pg_catalog.pg_is_in_recovery(),
       (SELECT system_identifier FROM pg_catalog.pg_control_system())::pg_catalog.text,
       CASE WHEN pg_catalog.pg_is_in_recovery() THEN
              COALESCE(w.received_tli, (SELECT timeline_id FROM pg_catalog.pg_control_checkpoint()))
            ELSE ('x' OPERATOR(pg_catalog.||) pg_catalog.substr(pg_catalog.pg_walfile_name(
                    pg_catalog.pg_current_wal_lsn()), 1, 8))::pg_catalog.bit(32)::pg_catalog.int4
       END,
       CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL
            ELSE pg_catalog.pg_current_wal_lsn()::pg_catalog.text END,
       pg_catalog.pg_last_wal_receive_lsn()::pg_catalog.text,
       pg_catalog.pg_last_wal_replay_lsn()::pg_catalog.text,
       w.latest_end_lsn::pg_catalog.text,
       pg_catalog.date_part('epoch', pg_catalog.pg_last_xact_replay_timestamp())::pg_catalog.float8,
       pg_catalog.date_part('epoch', pg_catalog.now())::pg_catalog.float8,
       w.status,
       pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()
                            OPERATOR(pg_catalog.-) w.last_msg_receipt_time)::pg_catalog.float8,
       (SELECT setting FROM pg_catalog.pg_settings
        WHERE name OPERATOR(pg_catalog.=) 'wal_receiver_timeout')
FROM (SELECT 1) AS one LEFT JOIN pg_catalog.pg_stat_wal_receiver AS w ON true)sql";

// Leaves out base backups in progress (state backup) and replication connections of our own
// (application_name replagent-*: the slot janitor's, older sidecars' IDENTIFY_SYSTEM), which
// are WAL senders too.
const char* const kReplicationSql = R"sql(
SELECT application_name, state,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), sent_lsn)::pg_catalog.int8,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), write_lsn)::pg_catalog.int8,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), flush_lsn)::pg_catalog.int8,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), replay_lsn)::pg_catalog.int8,
       pg_catalog.date_part('epoch', write_lag)::pg_catalog.float8,
       pg_catalog.date_part('epoch', flush_lag)::pg_catalog.float8,
       pg_catalog.date_part('epoch', replay_lag)::pg_catalog.float8
FROM pg_catalog.pg_stat_replication
WHERE state IS DISTINCT FROM 'backup'
  AND application_name OPERATOR(pg_catalog.!~~) 'replagent-%'
ORDER BY application_name, (state OPERATOR(pg_catalog.=) 'streaming') DESC)sql";

const char* const kSlotsSql = R"sql(
SELECT slot_name, active,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::pg_catalog.int8
FROM pg_catalog.pg_replication_slots ORDER BY slot_name)sql";

namespace {

const std::string& cell(const agent::QueryResult& r, std::size_t row, std::size_t col, bool* null) {
  static const std::string kEmpty;
  const auto& v = r.rows.at(row).at(col);
  *null = !v.has_value();
  return v ? *v : kEmpty;
}

std::optional<std::uint64_t> lsn_cell(const std::optional<std::string>& v) {
  if (!v) return std::nullopt;
  return agent::parse_lsn(*v);
}

}  // namespace

std::optional<std::uint64_t> parse_byte_count(const std::optional<std::string>& text) {
  if (!text || text->empty()) return std::nullopt;
  std::int64_t value = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value < 0 ? 0 : static_cast<std::uint64_t>(value);
}

std::optional<double> parse_double(const std::optional<std::string>& text) {
  if (!text || text->empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(text->c_str(), &end);
  if (end != text->c_str() + text->size()) return std::nullopt;
  return v;
}

std::optional<LocalStatus> parse_local_status(const agent::QueryResult& r, std::string* why) {
  if (r.rows.size() != 1 || r.rows[0].size() != 12) {
    *why = "unexpected result shape from the status query";
    return std::nullopt;
  }
  const auto& row = r.rows[0];
  LocalStatus s;
  s.in_recovery = row[0].value_or("f") == "t";
  bool null = false;
  const std::string& sysid = cell(r, 0, 1, &null);
  auto [p, ec] = std::from_chars(sysid.data(), sysid.data() + sysid.size(), s.system_identifier);
  if (null || ec != std::errc()) {
    *why = "status query returned no system identifier";
    return std::nullopt;
  }
  if (row[2]) std::from_chars(row[2]->data(), row[2]->data() + row[2]->size(), s.timeline);
  s.current_lsn = lsn_cell(row[3]);
  s.receive_lsn = lsn_cell(row[4]);
  s.replay_lsn = lsn_cell(row[5]);
  s.latest_end_lsn = lsn_cell(row[6]);
  s.last_replay_epoch = parse_double(row[7]);
  s.now_epoch = parse_double(row[8]).value_or(0);
  s.wal_receiver_status = row[9].value_or("");
  if (auto silence = parse_double(row[10])) s.primary_silence_seconds = std::max(0.0, *silence);
  if (auto ms = parse_byte_count(row[11])) {
    s.wal_receiver_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(*ms));
  }
  return s;
}

std::vector<ReplicaRow> parse_replication(const agent::QueryResult& r) {
  std::vector<ReplicaRow> out;
  std::set<std::string> seen;
  for (const auto& row : r.rows) {
    if (row.size() != 9 || !row[0]) continue;
    // Two senders with one name (a replica re-connecting while its old sender lingers): the
    // query orders the streaming one first; one series per replica name.
    if (!seen.insert(*row[0]).second) continue;
    ReplicaRow x;
    x.application_name = *row[0];
    x.state = row[1].value_or("");
    x.sent_lag_bytes = parse_byte_count(row[2]);
    x.write_lag_bytes = parse_byte_count(row[3]);
    x.flush_lag_bytes = parse_byte_count(row[4]);
    x.replay_lag_bytes = parse_byte_count(row[5]);
    x.write_lag_seconds = parse_double(row[6]);
    x.flush_lag_seconds = parse_double(row[7]);
    x.replay_lag_seconds = parse_double(row[8]);
    out.push_back(std::move(x));
  }
  return out;
}

std::vector<SlotRow> parse_slots(const agent::QueryResult& r) {
  std::vector<SlotRow> out;
  for (const auto& row : r.rows) {
    if (row.size() != 3 || !row[0]) continue;
    out.push_back(SlotRow{*row[0], row[1].value_or("f") == "t", parse_byte_count(row[2])});
  }
  return out;
}

}  // namespace replagent::probes
