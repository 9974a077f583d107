#pragma once

// The replication-protocol commands (IDENTIFY_SYSTEM, CREATE/READ/DROP_REPLICATION_SLOT) as an
// effect of their own, so a flow takes the SQL client (agent/pg.hpp) or this one or both, as it
// needs them, and unit tests fake them separately.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "agent/pg.hpp"

namespace replagent::agent {

struct SystemInfo {
  std::uint64_t system_identifier = 0;
  int timeline = 0;
  std::uint64_t wal_position = 0;  // the server's current flush LSN as a byte position
  std::string cluster_name;  // SHOW cluster_name: the pod name replagent init sets; may be empty
};

// A physical replication slot as the primary reports it.
struct SlotState {
  bool exists = false;
  // Where the slot holds WAL from. Unset for an existing slot means it was invalidated:
  // max_slot_wal_keep_size let the primary remove WAL the slot's replica had not received.
  std::optional<std::uint64_t> restart_lsn;
  bool wal_removed() const { return exists && !restart_lsn; }
};

// Each command opens its own replication connection (params.replication is forced on), runs
// on it and closes it.
class ReplicationClient {
 public:
  virtual ~ReplicationClient() = default;
  // IDENTIFY_SYSTEM, then SHOW cluster_name (optional: empty when it fails).
  virtual std::optional<SystemInfo> identify_system(const ConnParams& params, PgError* error) = 0;
  // CREATE_REPLICATION_SLOT <name> PHYSICAL RESERVE_WAL; an existing slot of that name is
  // success (*created = false).
  virtual std::optional<PgError> ensure_physical_slot(const ConnParams& params,
                                                      const std::string& slot, bool* created) = 0;
  // READ_REPLICATION_SLOT <name> (PostgreSQL 15+, replication role rights suffice); nullopt
  // with *error when the server could not be asked.
  virtual std::optional<SlotState> read_physical_slot(const ConnParams& params,
                                                      const std::string& slot, PgError* error) = 0;
  // DROP_REPLICATION_SLOT <name>; a slot that does not exist is success.
  virtual std::optional<PgError> drop_physical_slot(const ConnParams& params,
                                                    const std::string& slot) = 0;
};

// The commands as statements on `pg`'s sessions (a replication connection accepts them through
// the simple query protocol), so this needs no libpq of its own: agent/pg.cpp stays the one
// file that includes <libpq-fe.h>. `pg` must outlive the client. In production `pg` is
// make_libpq_client()'s; over a scripted PgClient the replies' parsing is unit-tested.
std::unique_ptr<ReplicationClient> make_replication_client(PgClient& pg);

}  // namespace replagent::agent
