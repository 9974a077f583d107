#pragma once

// Internal to agent/pg*.cpp: the replication-protocol commands behind PgClient's
// identify_system and *_physical_slot (agent/pg.hpp documents them). Each opens its own
// replication connection through `client.connect` (params.replication forced on) and runs
// one command on that session, so it needs no libpq of its own: agent/pg.cpp stays the one
// file that includes <libpq-fe.h>.

#include <optional>
#include <string>

#include "agent/pg.hpp"

namespace replagent::agent::pg_detail {

std::optional<SystemInfo> identify_system(PgClient& client, const ConnParams& params,
                                          PgError* error);
std::optional<PgError> ensure_physical_slot(PgClient& client, const ConnParams& params,
                                            const std::string& slot, bool* created);
std::optional<SlotState> read_physical_slot(PgClient& client, const ConnParams& params,
                                            const std::string& slot, PgError* error);
std::optional<PgError> drop_physical_slot(PgClient& client, const ConnParams& params,
                                          const std::string& slot);

}  // namespace replagent::agent::pg_detail
