// What the pg_files tests (pg_files_test.cpp, pg_quoting_test.cpp) share. Header only.
#pragma once

#include "roles/pg_files.hpp"

namespace replagent::roles::pg_files_test {

// A replica's connection to the primary as init writes it, without TLS.
inline PrimaryConnInfo sample_info() {
  PrimaryConnInfo info;
  info.host = "todo-db-0.todo-db.default.svc.cluster.local";
  info.port = 5432;
  info.user = "replicator";
  info.passfile = "/var/lib/postgresql/data/pgdata/replagent.pgpass";
  info.application_name = "todo-db-1";
  return info;
}

}  // namespace replagent::roles::pg_files_test
