// The one owner of libpq: everything that includes <libpq-fe.h> is in this file.
#include "agent/pg.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <string_view>

#include "agent/errors.hpp"

namespace replagent::agent {
namespace {

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnDeleter>;
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// libpq's messages end in "\n" and may carry a hint on further lines; logs and errors want
// one line.
std::string first_line(const char* text) {
  std::string_view s = text == nullptr ? std::string_view() : std::string_view(text);
  while (!s.empty() && (s.front() == '\n' || s.front() == ' ')) s.remove_prefix(1);
  s = s.substr(0, s.find('\n'));
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

// libpq reports a failed connection only as text: the server's ErrorResponse during start-up
// is folded into PQerrorMessage and no PGresult carries PG_DIAG_SQLSTATE. The callers must
// still tell "wrong password" (a config error: fail fast, name the secret) from "not up yet"
// (retry), so the SQLSTATE is recovered from the well-known message texts. These are the
// server's English messages; a server with a translated lc_messages falls back to "".
std::string auth_sqlstate_from_message(std::string_view msg) {
  if (msg.find("password authentication failed") != std::string_view::npos ||
      msg.find("no password supplied") != std::string_view::npos) {
    return "28P01";  // invalid_password
  }
  if (msg.find("pg_hba.conf rejects") != std::string_view::npos ||
      msg.find("no pg_hba.conf entry") != std::string_view::npos ||
      msg.find("authentication failed") != std::string_view::npos ||
      (msg.find("role \"") != std::string_view::npos &&
       msg.find("does not exist") != std::string_view::npos)) {
    return "28000";  // invalid_authorization_specification
  }
  return "";
}

// Notices (e.g. "role already exists, skipping") would otherwise go to our stderr,
// unformatted, around the structured log.
void log_notice(void* /*arg*/, const char* message) {
  spdlog::debug("postgres notice: {}", first_line(message));
}

// Keyword/value arrays for PQconnectdbParams: every value reaches libpq as-is, so a password
// with quotes or spaces needs no escaping and is never part of a string we build.
class ConnKeywords {
 public:
  explicit ConnKeywords(const ConnParams& p) {
    // libpq falls back to the OS user name (getpwuid) when `user` is unset; a static binary
    // in a scratch image has no /etc/passwd and fails with "could not look up local user ID".
    if (p.user.empty()) {
      throw usage_error("cannot connect to " + p.describe() + ": no user name set");
    }
    add("user", p.user);
    if (!p.host.empty()) add("host", p.host);
    if (!p.hostaddr.empty()) add("hostaddr", p.hostaddr);
    add("port", std::to_string(p.port));
    add("dbname", p.dbname);
    add("application_name", p.application_name);
    add("connect_timeout", std::to_string(p.connect_timeout.count()));
    if (!p.options.empty()) add("options", p.options);
    if (p.replication) add("replication", "true");
    if (!p.password.empty()) add("password", p.password.reveal());
    add("sslmode", "prefer");
    // The static build has no GSSAPI; "disable" is accepted either way and spares a
    // Kerberos round trip in the dynamic one.
    add("gssencmode", "disable");
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      key_ptrs_.push_back(keys_[i].c_str());
      value_ptrs_.push_back(values_[i].c_str());
    }
    key_ptrs_.push_back(nullptr);
    value_ptrs_.push_back(nullptr);
  }
  const char* const* keys() const { return key_ptrs_.data(); }
  const char* const* values() const { return value_ptrs_.data(); }

 private:
  void add(const char* key, std::string value) {
    keys_.emplace_back(key);
    values_.push_back(std::move(value));
  }
  std::vector<std::string> keys_;
  std::vector<std::string> values_;
  std::vector<const char*> key_ptrs_;
  std::vector<const char*> value_ptrs_;
};

PgError result_error(PGconn* conn, const PGresult* res) {
  PgError e;
  if (res == nullptr) {
    e.message = first_line(PQerrorMessage(conn));
    return e;
  }
  if (const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE)) e.sqlstate = state;
  if (const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)) {
    e.message = primary;
  } else {
    e.message = first_line(PQresultErrorMessage(res));
  }
  if (e.message.empty()) e.message = first_line(PQerrorMessage(conn));
  if (e.message.empty()) {
    e.message = std::string("unexpected result ") + PQresStatus(PQresultStatus(res));
  }
  return e;
}

std::optional<PgError> finish(PGconn* conn, PGresult* raw, QueryResult* out) {
  ResultPtr res(raw);
  const ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return result_error(conn, res.get());
  if (out != nullptr) {
    *out = QueryResult{};
    const int ncols = PQnfields(res.get());
    const int nrows = PQntuples(res.get());
    for (int c = 0; c < ncols; ++c) out->columns.emplace_back(PQfname(res.get(), c));
    out->rows.reserve(nrows);
    for (int r = 0; r < nrows; ++r) {
      auto& row = out->rows.emplace_back();
      row.reserve(ncols);
      for (int c = 0; c < ncols; ++c) {
        if (PQgetisnull(res.get(), r, c)) {
          row.emplace_back(std::nullopt);
        } else {
          row.emplace_back(std::string(PQgetvalue(res.get(), r, c),
                                       static_cast<std::size_t>(PQgetlength(res.get(), r, c))));
        }
      }
    }
  }
  return std::nullopt;
}

class LibpqSession final : public PgSession {
 public:
  explicit LibpqSession(ConnPtr conn) : conn_(std::move(conn)) {}

  std::optional<PgError> exec(const std::string& sql, QueryResult* out) override {
    return finish(conn_.get(), PQexec(conn_.get(), sql.c_str()), out);
  }

  std::optional<PgError> exec_params(const std::string& sql,
                                     const std::vector<std::string>& params,
                                     QueryResult* out) override {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p.c_str());
    return finish(conn_.get(),
                  PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()),
                               nullptr, values.data(), nullptr, nullptr, 0),
                  out);
  }

  std::string encrypt_password(const std::string& user, const Secret& password) override {
    char* verifier =
        PQencryptPasswordConn(conn_.get(), password.reveal().c_str(), user.c_str(),
                              "scram-sha-256");
    if (verifier == nullptr) {
      throw AgentError(ExitCode::kFailed, "cannot compute the SCRAM verifier for role \"" +
                                              user + "\": " +
                                              first_line(PQerrorMessage(conn_.get())));
    }
    std::string result(verifier);
    PQfreemem(verifier);
    return result;
  }

  PGconn* raw() const { return conn_.get(); }

 private:
  ConnPtr conn_;
};

ConnPtr open_connection(const ConnParams& params, PgError* error) {
  const ConnKeywords kw(params);
  // expand_dbname = 0: dbname is a database name, never parsed as a connection string.
  ConnPtr conn(PQconnectdbParams(kw.keys(), kw.values(), 0));
  if (conn && PQstatus(conn.get()) == CONNECTION_OK) {
    PQsetNoticeProcessor(conn.get(), log_notice, nullptr);
    return conn;
  }
  PgError e;
  const char* msg = conn ? PQerrorMessage(conn.get()) : "out of memory";
  e.message = first_line(msg);
  e.sqlstate = auth_sqlstate_from_message(msg);
  if (error != nullptr) *error = std::move(e);
  return nullptr;
}

template <typename Int>
bool parse_int(const std::string& text, Int* out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end && !text.empty();
}

class LibpqClient final : public PgClient {
 public:
  PingStatus ping(const ConnParams& params) override {
    const ConnKeywords kw(params);
    switch (PQpingParams(kw.keys(), kw.values(), 0)) {
      case PQPING_OK:
        return PingStatus::kOk;
      case PQPING_REJECT:
        return PingStatus::kRejected;
      case PQPING_NO_RESPONSE:
        return PingStatus::kNoResponse;
      case PQPING_NO_ATTEMPT:
        return PingStatus::kNoAttempt;
    }
    return PingStatus::kNoAttempt;
  }

  std::unique_ptr<PgSession> connect(const ConnParams& params, PgError* error) override {
    ConnPtr conn = open_connection(params, error);
    if (!conn) return nullptr;
    return std::make_unique<LibpqSession>(std::move(conn));
  }

  std::optional<SystemInfo> identify_system(const ConnParams& params, PgError* error) override {
    ConnParams repl = params;
    repl.replication = true;
    auto session = connect(repl, error);
    if (!session) return std::nullopt;
    QueryResult r;
    if (auto e = session->exec("IDENTIFY_SYSTEM", &r)) {
      if (error != nullptr) *error = std::move(*e);
      return std::nullopt;
    }
    // Columns: systemid (uint64 as text), timeline, xlogpos ("X/Y"), dbname.
    SystemInfo info;
    std::optional<std::uint64_t> lsn;
    const bool ok = r.rows.size() == 1 && r.rows[0].size() >= 3 && r.rows[0][0] &&
                    r.rows[0][1] && r.rows[0][2] &&
                    parse_int(*r.rows[0][0], &info.system_identifier) &&
                    parse_int(*r.rows[0][1], &info.timeline) &&
                    (lsn = parse_lsn(*r.rows[0][2]));
    if (!ok) {
      if (error != nullptr) {
        *error = PgError{"", "unexpected IDENTIFY_SYSTEM reply from " + params.describe()};
      }
      return std::nullopt;
    }
    info.wal_position = *lsn;
    return info;
  }

  std::optional<PgError> ensure_physical_slot(const ConnParams& params, const std::string& slot,
                                              bool* created) override {
    if (created != nullptr) *created = false;
    ConnParams repl = params;
    repl.replication = true;
    PgError error;
    ConnPtr conn = open_connection(repl, &error);
    if (!conn) return error;
    char* quoted = PQescapeIdentifier(conn.get(), slot.c_str(), slot.size());
    if (quoted == nullptr) return PgError{"", first_line(PQerrorMessage(conn.get()))};
    // RESERVE_WAL: the slot holds WAL from now on, so nothing the clone needs is recycled
    // between creating the slot and pg_basebackup starting to stream.
    const std::string sql =
        std::string("CREATE_REPLICATION_SLOT ") + quoted + " PHYSICAL RESERVE_WAL";
    PQfreemem(quoted);
    LibpqSession session(std::move(conn));
    auto e = session.exec(sql, nullptr);
    if (!e) {
      if (created != nullptr) *created = true;
      return std::nullopt;
    }
    if (e->sqlstate == "42710") return std::nullopt;  // duplicate_object: the slot exists
    return e;
  }
};

}  // namespace

std::string ConnParams::describe() const {
  const std::string& where = !host.empty() ? host : !hostaddr.empty() ? hostaddr : "local socket";
  return user + "@" + where + ":" + std::to_string(port);
}

const char* to_string(PingStatus s) {
  switch (s) {
    case PingStatus::kOk:
      return "accepting connections";
    case PingStatus::kRejected:
      return "rejecting connections";
    case PingStatus::kNoResponse:
      return "no response";
    case PingStatus::kNoAttempt:
      return "no attempt (bad connection parameters)";
  }
  return "unknown";
}

bool PgError::auth_failed() const { return sqlstate == "28P01" || sqlstate == "28000"; }

std::unique_ptr<PgClient> make_libpq_client() { return std::make_unique<LibpqClient>(); }

std::optional<std::uint64_t> parse_lsn(const std::string& text) {
  // PostgreSQL prints an LSN as two 32-bit halves in hex, "%X/%X": 1 to 8 digits each.
  const auto slash = text.find('/');
  if (slash == std::string::npos) return std::nullopt;
  auto half = [](std::string_view s) -> std::optional<std::uint32_t> {
    if (s.empty() || s.size() > 8) return std::nullopt;
    std::uint32_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
    if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
    return v;
  };
  const std::string_view all(text);
  const auto hi = half(all.substr(0, slash));
  const auto lo = half(all.substr(slash + 1));
  if (!hi || !lo) return std::nullopt;
  return (static_cast<std::uint64_t>(*hi) << 32) | *lo;
}

std::string format_lsn(std::uint64_t lsn) {
  return fmt::format("{:X}/{:X}", static_cast<std::uint32_t>(lsn >> 32),
                     static_cast<std::uint32_t>(lsn));
}

}  // namespace replagent::agent
