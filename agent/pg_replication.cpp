// The replication-protocol commands (IDENTIFY_SYSTEM, CREATE/READ/DROP_REPLICATION_SLOT) on a
// replication session of PgClient::connect (agent/pg_replication.hpp).
#include "agent/pg_replication.hpp"

#include <charconv>
#include <cstdint>
#include <memory>
#include <system_error>
#include <utility>

#include "agent/lsn.hpp"

namespace replagent::agent {
namespace {

template <typename Int>
bool parse_int(const std::string& text, Int* out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end && !text.empty();
}

// A slot name as a quoted identifier of the replication grammar: in double quotes, a double
// quote inside doubled, as PQescapeIdentifier writes it. Slot names are [a-z0-9_] (PostgreSQL
// refuses others, and slot_name_for makes none), so there is no encoding to check.
std::string quoted_identifier(const std::string& name) {
  std::string out = "\"";
  for (char ch : name) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return out + "\"";
}

ConnParams replication(const ConnParams& params) {
  ConnParams repl = params;
  repl.replication = true;
  return repl;
}

class SessionReplicationClient final : public ReplicationClient {
 public:
  explicit SessionReplicationClient(PgClient& pg) : pg_(pg) {}

  std::optional<SystemInfo> identify_system(const ConnParams& params, PgError* error) override;
  std::optional<PgError> ensure_physical_slot(const ConnParams& params, const std::string& slot,
                                              bool* created) override;
  std::optional<SlotState> read_physical_slot(const ConnParams& params, const std::string& slot,
                                              PgError* error) override;
  std::optional<PgError> drop_physical_slot(const ConnParams& params,
                                            const std::string& slot) override;

 private:
  PgClient& pg_;
};

std::optional<SystemInfo> SessionReplicationClient::identify_system(const ConnParams& params,
                                                                    PgError* error) {
  auto session = pg_.connect(replication(params), error);
  if (!session) return std::nullopt;
  QueryResult r;
  if (auto e = session->exec("IDENTIFY_SYSTEM", &r)) {
    if (error != nullptr) *error = std::move(*e);
    return std::nullopt;
  }
  // Columns: systemid (uint64 as text), timeline, xlogpos ("X/Y"), dbname.
  SystemInfo info;
  std::optional<std::uint64_t> lsn;
  const bool ok = r.rows.size() == 1 && r.rows[0].size() >= 3 && r.rows[0][0] && r.rows[0][1] &&
                  r.rows[0][2] && parse_int(*r.rows[0][0], &info.system_identifier) &&
                  parse_int(*r.rows[0][1], &info.timeline) && (lsn = parse_lsn(*r.rows[0][2]));
  if (!ok) {
    if (error != nullptr) {
      *error = PgError{"", "unexpected IDENTIFY_SYSTEM reply from " + params.describe()};
    }
    return std::nullopt;
  }
  info.wal_position = *lsn;
  // Which pod this is (replagent writes cluster_name = the pod name); optional, so an error
  // (an older server configuration) leaves it empty.
  QueryResult name;
  if (!session->exec("SHOW cluster_name", &name) && name.rows.size() == 1 &&
      !name.rows[0].empty() && name.rows[0][0]) {
    info.cluster_name = *name.rows[0][0];
  }
  return info;
}

std::optional<PgError> SessionReplicationClient::ensure_physical_slot(const ConnParams& params,
                                                                      const std::string& slot,
                                                                      bool* created) {
  if (created != nullptr) *created = false;
  PgError error;
  auto session = pg_.connect(replication(params), &error);
  if (!session) return error;
  // RESERVE_WAL: the slot holds WAL from now on, so nothing the clone needs is recycled
  // between creating the slot and pg_basebackup starting to stream.
  auto e = session->exec(
      "CREATE_REPLICATION_SLOT " + quoted_identifier(slot) + " PHYSICAL RESERVE_WAL", nullptr);
  if (!e) {
    if (created != nullptr) *created = true;
    return std::nullopt;
  }
  if (e->sqlstate == "42710") return std::nullopt;  // duplicate_object: the slot exists
  return e;
}

std::optional<SlotState> SessionReplicationClient::read_physical_slot(const ConnParams& params,
                                                                      const std::string& slot,
                                                                      PgError* error) {
  PgError e;
  auto session = pg_.connect(replication(params), &e);
  if (!session) {
    if (error != nullptr) *error = std::move(e);
    return std::nullopt;
  }
  QueryResult r;
  if (auto failed = session->exec("READ_REPLICATION_SLOT " + quoted_identifier(slot), &r)) {
    if (error != nullptr) *error = std::move(*failed);
    return std::nullopt;
  }
  // Columns: slot_type, restart_lsn, restart_tli; all NULL when there is no such slot.
  SlotState state;
  if (r.rows.size() == 1 && !r.rows[0].empty() && r.rows[0][0]) {
    state.exists = true;
    if (r.rows[0].size() >= 2 && r.rows[0][1]) state.restart_lsn = parse_lsn(*r.rows[0][1]);
  }
  return state;
}

std::optional<PgError> SessionReplicationClient::drop_physical_slot(const ConnParams& params,
                                                                    const std::string& slot) {
  PgError e;
  auto session = pg_.connect(replication(params), &e);
  if (!session) return e;
  auto failed = session->exec("DROP_REPLICATION_SLOT " + quoted_identifier(slot), nullptr);
  if (failed && failed->sqlstate == "42704") return std::nullopt;  // undefined_object
  return failed;
}

}  // namespace

std::unique_ptr<ReplicationClient> make_replication_client(PgClient& pg) {
  return std::make_unique<SessionReplicationClient>(pg);
}

}  // namespace replagent::agent
