#include "roles/backup_dump.hpp"

#include <fmt/format.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <charconv>
#include <cstring>
#include <filesystem>

#include "agent/errors.hpp"
#include "roles/pg_files.hpp"

namespace replagent::roles {
namespace {

namespace fs = std::filesystem;

// One round trip for all tables: query_to_xml runs each count(*) inside this statement, in
// the same snapshot, and works in a read-only transaction on a standby. Every function,
// operator and type is schema-qualified, the inner statement's too, and the session's
// search_path is pg_catalog, pg_temp (agent/pg.cpp): this runs in the application's
// database, whose owner owns `public` and could plant a `public.format(text, name, name)`
// that outranks pg_catalog's for an unqualified call (CVE-2018-1058).
constexpr const char* kCountQuery = R"(
SELECT pg_catalog.format('%I.%I', n.nspname, c.relname),
       (pg_catalog.xpath('/row/c/text()',
          pg_catalog.query_to_xml(
            pg_catalog.format('SELECT pg_catalog.count(*) AS c FROM %I.%I', n.nspname, c.relname),
            false, true, '')))[1]::pg_catalog.text
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n
  ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
WHERE c.relkind OPERATOR(pg_catalog.=) 'r' AND c.relpersistence OPERATOR(pg_catalog.=) 'p'
  AND n.nspname OPERATOR(pg_catalog.<>) 'information_schema'
  AND n.nspname OPERATOR(pg_catalog.!~) '^pg_'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                    AND d.objid OPERATOR(pg_catalog.=) c.oid
                    AND d.deptype OPERATOR(pg_catalog.=) 'e')
ORDER BY 1)";

// Templates, and databases that refuse connections (pg_dump could not read them), are never
// what backup.database should name.
constexpr const char* kOtherDatabasesQuery = R"(
SELECT d.datname::pg_catalog.text FROM pg_catalog.pg_database d
WHERE d.datallowconn AND NOT d.datistemplate
  AND d.datname OPERATOR(pg_catalog.<>) pg_catalog.current_database()
ORDER BY 1)";

}  // namespace

PrivateWorkDir::PrivateWorkDir(const std::string& prefix) {
  std::error_code ec;
  fs::path base = fs::temp_directory_path(ec);
  if (ec) base = "/tmp";
  std::string tmpl = (base / (prefix + "-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    throw agent::AgentError(agent::ExitCode::kCloneFailed,
                            fmt::format("cannot create a private directory {}: {} (set TMPDIR to "
                                        "a writable directory)",
                                        tmpl, std::strerror(errno)));
  }
  path_ = tmpl;  // mkdtemp makes it 0700
}

PrivateWorkDir::~PrivateWorkDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

agent::ProcessSpec build_pg_dump(const DumpRequest& r) {
  std::string conninfo = fmt::format(
      "host={} port={} user={} dbname={} "
      "application_name='replagent-backup' connect_timeout=10",
      conninfo_quote(r.host), r.port, conninfo_quote(r.user), conninfo_quote(r.dbname));
  if (!r.hostaddr.empty()) conninfo += " hostaddr=" + conninfo_quote(r.hostaddr);
  conninfo += tls_conninfo(r.ssl_root_cert);
  agent::ProcessSpec spec;
  spec.program = "pg_dump";
  spec.search_dir = r.bin_dir;
  spec.args = {"-Fc", "-f", r.output};
  if (!r.snapshot.empty()) spec.args.push_back("--snapshot=" + r.snapshot);
  spec.args.insert(spec.args.end(), {"-d", conninfo});
  spec.env["PGPASSFILE"] = r.passfile;
  // The password comes from the passfile only; never from a PGPASSWORD the agent inherited.
  spec.env["PGPASSWORD"] = "";
  return spec;
}

agent::ProcessSpec build_restore_list(const std::string& file, const std::string& bin_dir) {
  agent::ProcessSpec spec;
  spec.program = "pg_restore";
  spec.search_dir = bin_dir;
  spec.args = {"--list", file};
  return spec;
}

std::optional<std::vector<TableCount>> count_rows(agent::PgSession& session, std::string* error) {
  agent::QueryResult r;
  if (auto e = session.exec(kCountQuery, &r)) {
    *error = e->message;
    return std::nullopt;
  }
  std::vector<TableCount> out;
  for (const auto& row : r.rows) {
    TableCount c;
    if (row.size() != 2 || !row[0] || !row[1]) {
      *error = "unexpected reply to the row-count query";
      return std::nullopt;
    }
    const std::string& n = *row[1];
    auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), c.rows);
    if (ec != std::errc() || p != n.data() + n.size()) {
      *error = "unexpected row count '" + n + "' for " + *row[0];
      return std::nullopt;
    }
    c.table = *row[0];
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<std::string> other_databases(agent::PgSession& session) {
  agent::QueryResult r;
  std::vector<std::string> out;
  if (session.exec(kOtherDatabasesQuery, &r)) return out;
  for (const auto& row : r.rows)
    if (!row.empty() && row[0]) out.push_back(*row[0]);
  return out;
}

std::string last_line(const agent::ProcessResult& r) {
  // PostgreSQL's tools print "tool: error: what" and then "tool: detail: ..." lines, ending
  // with the command that failed; the error and the server's message explain, the command
  // does not.
  std::vector<std::string> lines;
  std::string_view rest = r.output_tail;
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    std::string line(rest.substr(0, nl));
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    if (!line.empty()) lines.push_back(std::move(line));
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (out.empty() && lines[i].find("error:") == std::string::npos) continue;
    if (!out.empty() && (lines[i].find("detail:") == std::string::npos ||
                         lines[i].find("Command was:") != std::string::npos)) {
      continue;
    }
    out += (out.empty() ? "" : " ") + lines[i];
  }
  if (!out.empty()) return out;
  return lines.empty() ? "(no output)" : lines.back();
}

}  // namespace replagent::roles
