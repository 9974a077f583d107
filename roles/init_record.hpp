#pragma once

// What the last successful `replagent init` did with the data directory, kept in
// PGDATA/replagent.last-init so the sidecar (a separate container, started after init) can
// report it: a replica that was re-cloned because the primary no longer had its WAL must show
// up in /metrics and /status, not only in an init container's log that nobody reads.

#include <cstdint>
#include <optional>
#include <string>

#include "roles/init.hpp"

namespace replagent::roles {

inline constexpr const char* kInitRecordFile = "replagent.last-init";

struct InitRecord {
  std::string action;     // InitOutcome::action: initdb, clone, reclone, kept, refreshed
  std::string reason;     // InitOutcome::reason, e.g. slot_wal_removed; may be empty
  std::int64_t time = 0;  // Unix seconds
  std::string message;    // InitOutcome::message (one line)
};

// "key=value" lines; values are single lines (newlines replaced).
std::string render_init_record(const InitRecord& record);
// nullopt when the text has no action.
std::optional<InitRecord> parse_init_record(const std::string& text);

// Writes PGDATA/replagent.last-init atomically (0600) for a successful outcome. Failure to
// write is logged, not fatal: the data directory itself is what matters.
void save_init_record(const std::string& pgdata, const InitOutcome& outcome, std::int64_t now);
// Reads it; nullopt when missing or unreadable.
std::optional<InitRecord> load_init_record(const std::string& pgdata);

}  // namespace replagent::roles
