#include "roles/pg_roles.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

namespace replagent::roles {
namespace {

// Attributes are spelled out in full on every start, so a role someone altered by hand (or an
// older version created) is brought back to exactly these privileges.
constexpr const char* kNoPrivileges = "NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT";

// CREATE ROLE when it does not exist, else ALTER ROLE; the server quotes the name (%I) and the
// verifier (%L). Every name is schema-qualified: this runs as the superuser.
constexpr const char* kUpsertSql = R"sql(
SELECT pg_catalog.format(
         CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles
                           WHERE rolname OPERATOR(pg_catalog.=) $1::pg_catalog.text)
              THEN 'ALTER ROLE %I WITH %s' ELSE 'CREATE ROLE %I WITH %s' END,
         $1::pg_catalog.text, $2::pg_catalog.text)
       OPERATOR(pg_catalog.||)
       CASE WHEN $3::pg_catalog.text OPERATOR(pg_catalog.=) '' THEN ''
            ELSE pg_catalog.format(' PASSWORD %L', $3::pg_catalog.text) END)sql";

constexpr const char* kGrantSql =
    "SELECT pg_catalog.format('GRANT %I TO %I', $1::pg_catalog.text, $2::pg_catalog.text)";

// One row, the CREATE DATABASE statement with the names quoted by the server (%I), when the
// database does not exist; no row when it does. CREATE DATABASE cannot take IF NOT EXISTS.
constexpr const char* kCreateDatabaseSql = R"sql(
SELECT pg_catalog.format('CREATE DATABASE %I OWNER %I', $1::pg_catalog.text,
                         $2::pg_catalog.text)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_database
                  WHERE datname OPERATOR(pg_catalog.=) $1::pg_catalog.text))sql";

std::optional<std::string> run_built(agent::PgSession& session, const std::string& builder,
                                     const std::vector<std::string>& params) {
  agent::QueryResult q;
  if (auto e = session.exec_params(builder, params, &q)) return e->message;
  if (q.rows.size() != 1 || q.rows[0].empty() || !q.rows[0][0])
    return std::string("the server built no statement");
  if (auto e = session.exec(*q.rows[0][0])) return e->message;
  return std::nullopt;
}

}  // namespace

std::vector<ManagedRole> managed_roles(const agent::Config& c) {
  const auto& p = c.postgres;
  // NOINHERIT would keep a member from using pg_monitor's rights without SET ROLE: the
  // members inherit, everything else is off.
  const std::string inherit = "NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT";
  std::vector<ManagedRole> out{
      {p.superuser, "", &p.superuser_password, {}},
      {p.replication_user,
       std::string("LOGIN REPLICATION NOBYPASSRLS ") + kNoPrivileges,
       &p.replication_password,
       {}},
      {p.monitor_user,
       "LOGIN NOREPLICATION NOBYPASSRLS " + inherit,
       &p.monitor_password,
       {"pg_monitor"}},
      // BYPASSRLS: pg_dump must see every row (it refuses to dump a table whose row security
      // would hide rows); pg_read_all_data grants SELECT on every table, view and sequence;
      // pg_read_all_stats shows it pg_stat_wal_receiver's status (a streaming replica is the
      // preferred source), hidden from other roles.
      {p.backup_user,
       "LOGIN NOREPLICATION BYPASSRLS " + inherit,
       &p.backup_password,
       {"pg_read_all_data", "pg_read_all_stats"}},
  };
  // The application's role logs in and owns its database; everything else is off, as for the
  // agent's roles (it may create tables in the database it owns).
  if (!p.app_user.empty())
    out.push_back({p.app_user, "LOGIN NOREPLICATION NOBYPASSRLS " + inherit, &p.app_password, {}});
  return out;
}

std::optional<std::string> reconcile_roles(agent::PgSession& session, const agent::Config& c) {
  for (const auto& role : managed_roles(c)) {
    const bool has_password = !role.password->empty();
    if (role.attributes.empty()) {  // the superuser: initdb made it; only its password changes
      if (!has_password) continue;
    }
    const std::string verifier =
        has_password ? session.encrypt_password(role.name, *role.password) : std::string();
    const std::string attributes = role.attributes.empty() ? "SUPERUSER" : role.attributes;
    if (auto e = run_built(session, kUpsertSql, {role.name, attributes, verifier}))
      return fmt::format("cannot create or alter role {}: {}", role.name, *e);
    for (const auto& granted : role.member_of) {
      if (auto e = run_built(session, kGrantSql, {granted, role.name}))
        return fmt::format("cannot grant {} to {}: {}", granted, role.name, *e);
    }
    spdlog::info("role {} in step ({}{}{})", role.name, attributes,
                 role.member_of.empty()
                     ? ""
                     : ", member of " + fmt::format("{}", fmt::join(role.member_of, ", ")),
                 has_password ? ", password from its Secret" : ", no password configured");
  }
  return std::nullopt;
}

std::optional<std::string> ensure_app_database(agent::PgSession& session, const agent::Config& c) {
  const auto& p = c.postgres;
  if (p.app_database.empty()) return std::nullopt;
  const std::string owner = p.app_user.empty() ? p.superuser : p.app_user;
  agent::QueryResult q;
  if (auto e = session.exec_params(kCreateDatabaseSql, {p.app_database, owner}, &q))
    return fmt::format("cannot look for database {}: {}", p.app_database, e->message);
  if (q.rows.empty() || q.rows[0].empty() || !q.rows[0][0]) {
    spdlog::info("database {} exists", p.app_database);
    return std::nullopt;
  }
  if (auto e = session.exec(*q.rows[0][0]))
    return fmt::format("cannot create database {} (owner {}): {}", p.app_database, owner,
                       e->message);
  spdlog::info("database {} created, owner {}", p.app_database, owner);
  return std::nullopt;
}

}  // namespace replagent::roles
