// The one owner of libpq: everything that includes <libpq-fe.h> is in this file. The parts
// that need no libpq are beside it: the keyword arrays (agent/pg_keywords.cpp), the
// replication-protocol commands on a session (agent/pg_replication.cpp), LSNs (agent/lsn.cpp).
#include "agent/pg.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string_view>
#include <system_error>
#include <thread>

#include "agent/errors.hpp"
#include "agent/pg_keywords.hpp"
#include "agent/units.hpp"

namespace replagent::agent {
namespace {

using pg_detail::ConnKeywords;

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnDeleter>;
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;
using SteadyClock = std::chrono::steady_clock;

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

// --- waiting with a deadline (ConnParams::io_timeout) ---

enum class Wait { kReady, kTimedOut, kFailed };

// Waits until libpq's socket is readable (or writable) or `deadline` passes. The socket is
// asked for each time: libpq may open a new one while connecting (SSL, then plain).
Wait wait_socket(PGconn* conn, bool for_write, SteadyClock::time_point deadline, std::string* why) {
  const int fd = PQsocket(conn);
  if (fd < 0) {
    *why = "no socket";
    return Wait::kFailed;
  }
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) return Wait::kTimedOut;
    pollfd p{fd, static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), INT_MAX)));
    // POLLERR/POLLHUP count as ready: libpq then reads the error itself.
    if (n > 0) return Wait::kReady;
    if (n < 0 && errno != EINTR) {
      *why = std::string("poll: ") + std::strerror(errno);
      return Wait::kFailed;
    }
  }
}

// A cancel request is a second connection to the postmaster, and libpq 15's PQcancel (there
// is no non-blocking variant before 17) waits until the postmaster closes it: against a
// stopped server that is as long as the stop. So it runs on a detached thread and nobody
// waits for it, at most one per process: while one is pending, a further timed-out
// statement is not cancelled (its connection is closed all the same, and the server-side
// statement_timeout ends the query once the server runs again).
std::atomic<bool> g_cancel_pending{false};

void cancel_in_background(PGconn* conn) {
  bool expected = false;
  if (!g_cancel_pending.compare_exchange_strong(expected, true)) return;
  PGcancel* cancel = PQgetCancel(conn);
  if (cancel == nullptr) {
    g_cancel_pending.store(false);
    return;
  }
  try {
    std::thread([cancel] {
      char err[256] = {};
      PQcancel(cancel, err, sizeof err);  // best effort; the connection is gone either way
      PQfreeCancel(cancel);
      g_cancel_pending.store(false);
    }).detach();
  } catch (const std::system_error&) {
    PQfreeCancel(cancel);
    g_cancel_pending.store(false);
  }
}

// Callers prefix what they were doing with whom ("cannot connect to ...: "); a statement's
// error names the server, as a session's errors are reported without it.
std::string no_answer(std::chrono::milliseconds timeout, const char* doing) {
  return fmt::format("no answer within {} {} (server stopped or overloaded?)",
                     format_duration(timeout), doing);
}

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
  LibpqSession(ConnPtr conn, const ConnParams& params)
      : conn_(std::move(conn)), who_(params.describe()), timeout_(params.io_timeout) {}

  std::optional<PgError> exec(const std::string& sql, QueryResult* out) override {
    if (!conn_) return closed();
    if (timeout_.count() <= 0) return finish(conn_.get(), PQexec(conn_.get(), sql.c_str()), out);
    return run_until_deadline([&sql](PGconn* c) { return PQsendQuery(c, sql.c_str()); }, out);
  }

  std::optional<PgError> exec_params(const std::string& sql, const std::vector<std::string>& params,
                                     QueryResult* out) override {
    if (!conn_) return closed();
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p.c_str());
    const int n = static_cast<int>(values.size());
    if (timeout_.count() <= 0) {
      return finish(
          conn_.get(),
          PQexecParams(conn_.get(), sql.c_str(), n, nullptr, values.data(), nullptr, nullptr, 0),
          out);
    }
    return run_until_deadline(
        [&](PGconn* c) {
          return PQsendQueryParams(c, sql.c_str(), n, nullptr, values.data(), nullptr, nullptr, 0);
        },
        out);
  }

  std::string encrypt_password(const std::string& user, const Secret& password) override {
    if (!conn_) throw AgentError(ExitCode::kFailed, closed().message);
    char* verifier = PQencryptPasswordConn(conn_.get(), password.reveal().c_str(), user.c_str(),
                                           "scram-sha-256");
    if (verifier == nullptr) {
      throw AgentError(ExitCode::kFailed, "cannot compute the SCRAM verifier for role \"" + user +
                                              "\": " + first_line(PQerrorMessage(conn_.get())));
    }
    std::string result(verifier);
    PQfreemem(verifier);
    return result;
  }

  PGconn* raw() const { return conn_.get(); }

 private:
  PgError closed() const {
    return PgError{"", "connection to " + who_ + " was closed after an earlier timeout", true};
  }

  // One statement bounded by io_timeout: send it, then wait on the socket until libpq holds
  // every result or the deadline passes. The results are kept as PQexec keeps them: the
  // first error, else the last result.
  template <typename Send>
  std::optional<PgError> run_until_deadline(Send send, QueryResult* out) {
    const auto deadline = SteadyClock::now() + timeout_;
    PGconn* c = conn_.get();
    // A statement fits the socket's send buffer: PQsend* has flushed it on return.
    if (send(c) == 0) return result_error(c, nullptr);
    ResultPtr kept;
    for (;;) {
      while (PQisBusy(c) != 0) {
        std::string why;
        switch (wait_socket(c, false, deadline, &why)) {
          case Wait::kReady:
            break;
          case Wait::kTimedOut:
            return give_up();
          case Wait::kFailed:
            conn_.reset();
            return PgError{"", "waiting for " + who_ + ": " + why};
        }
        if (PQconsumeInput(c) == 0) return result_error(c, nullptr);
      }
      ResultPtr next(PQgetResult(c));
      if (!next) break;
      const ExecStatusType st = PQresultStatus(next.get());
      if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
        conn_.reset();  // no COPY here; a connection left in that state is of no use
        return PgError{"", "unexpected COPY response from " + who_};
      }
      const bool kept_error = kept && PQresultStatus(kept.get()) == PGRES_FATAL_ERROR;
      if (!kept_error) kept = std::move(next);
    }
    return finish(c, kept.release(), out);
  }

  // The deadline passed with the statement in flight: ask the server to cancel it, and drop
  // the connection (libpq cannot take another statement while one is pending).
  PgError give_up() {
    cancel_in_background(conn_.get());
    conn_.reset();
    return PgError{"", who_ + ": " + no_answer(timeout_, "to a statement"), true};
  }

  ConnPtr conn_;
  std::string who_;
  std::chrono::milliseconds timeout_;
};

// PQconnectStartParams and PQconnectPoll, waiting on the socket until `deadline` (libpq
// ignores connect_timeout on this path). nullptr with *timed_out set when it passed.
ConnPtr connect_until(const ConnKeywords& kw, SteadyClock::time_point deadline, bool* timed_out,
                      std::string* why) {
  // expand_dbname = 0: dbname is a database name, never parsed as a connection string.
  ConnPtr conn(PQconnectStartParams(kw.keys(), kw.values(), 0));
  if (!conn || PQstatus(conn.get()) == CONNECTION_BAD) return conn;
  // As the libpq manual says: start as if PQconnectPoll had asked to wait for writing.
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
    switch (wait_socket(conn.get(), st == PGRES_POLLING_WRITING, deadline, why)) {
      case Wait::kReady:
        break;
      case Wait::kTimedOut:
        *timed_out = true;
        return nullptr;
      case Wait::kFailed:
        return nullptr;
    }
    st = PQconnectPoll(conn.get());
  }
  return conn;
}

ConnPtr open_connection(const ConnParams& params, PgError* error) {
  const ConnKeywords kw(params);
  ConnPtr conn;
  if (params.io_timeout.count() > 0) {
    bool timed_out = false;
    std::string why;
    conn = connect_until(kw, SteadyClock::now() + params.io_timeout, &timed_out, &why);
    if (!conn) {
      if (error != nullptr) {
        *error = timed_out ? PgError{"", no_answer(params.io_timeout, "while connecting"), true}
                           : PgError{"", why};
      }
      return nullptr;
    }
  } else {
    // expand_dbname = 0: dbname is a database name, never parsed as a connection string.
    conn.reset(PQconnectdbParams(kw.keys(), kw.values(), 0));
  }
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
    return std::make_unique<LibpqSession>(std::move(conn), params);
  }
};

}  // namespace

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

}  // namespace replagent::agent
