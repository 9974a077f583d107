// The libpq fakes of test/unit/fakes.hpp (which includes this file): one scripted server
// answering SQL, its sessions, the PgClient over such servers, and the replication-protocol
// client. Header only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "agent/pg.hpp"
#include "agent/pg_replication.hpp"

namespace replagent::fakes {

// A scripted server: rules from SQL to what it answers. A rule matches a statement that
// contains its fragment ("" matches every statement); the rule scripted last wins, and
// scripting a fragment again replaces its rule (so a test changes an answer between polls).
// A statement no rule matches answers no rows, or `unscripted` when that is set.
class ScriptedServer {
 public:
  using Row = std::vector<std::optional<std::string>>;
  struct Reply {
    agent::QueryResult result;
    std::optional<agent::PgError> error;
  };
  using Answer = std::function<Reply(const std::vector<std::string>& params)>;

  ScriptedServer& answer(const std::string& fragment, std::vector<Row> rows) {
    Reply r;
    r.result.rows = std::move(rows);
    return answer_with(fragment, [r](const std::vector<std::string>&) { return r; });
  }
  ScriptedServer& fail(const std::string& fragment, agent::PgError error) {
    return answer_with(fragment, [error](const std::vector<std::string>&) {
      return Reply{{}, error};
    });
  }
  // The reply worked out from the statement's parameters (exec_params), at the time it runs.
  ScriptedServer& answer_with(const std::string& fragment, Answer answer) {
    std::erase_if(rules_, [&](const Rule& r) { return r.fragment == fragment; });
    rules_.push_back(Rule{fragment, std::move(answer)});
    return *this;
  }

  Reply reply(const std::string& sql, const std::vector<std::string>& params) const {
    for (auto it = rules_.rbegin(); it != rules_.rend(); ++it)
      if (sql.find(it->fragment) != std::string::npos) return it->answer(params);
    return Reply{{}, unscripted};
  }

  std::optional<agent::PgError> connect_error;  // connect() fails with it
  std::optional<agent::PgError> unscripted;     // what statements no rule matches answer

 private:
  struct Rule {
    std::string fragment;
    Answer answer;
  };
  std::vector<Rule> rules_;
};

// A session on a ScriptedServer (live: a test's changes to the script reach open sessions).
// Appends every statement to `log`, exec_params with its parameters as " [p]".
class FakePgSession : public agent::PgSession {
 public:
  FakePgSession(const ScriptedServer* server, std::vector<std::string>* log)
      : server_(server), log_(log) {}

  std::optional<agent::PgError> exec(const std::string& sql, agent::QueryResult* out) override {
    log_->push_back(sql);
    return answer(server_->reply(sql, {}), out);
  }
  std::optional<agent::PgError> exec_params(const std::string& sql,
                                            const std::vector<std::string>& params,
                                            agent::QueryResult* out) override {
    std::string entry = sql;
    for (const auto& p : params) entry += " [" + p + "]";
    log_->push_back(entry);
    return answer(server_->reply(sql, params), out);
  }
  std::string encrypt_password(const std::string& user, const agent::Secret&) override {
    return "SCRAM-SHA-256$4096:fake$" + user;
  }

 private:
  static std::optional<agent::PgError> answer(ScriptedServer::Reply r, agent::QueryResult* out) {
    if (out) *out = r.error ? agent::QueryResult{} : std::move(r.result);
    return r.error;
  }
  const ScriptedServer* server_;
  std::vector<std::string>* log_;
};

// Scripted servers, keyed by the numeric address (ConnParams::hostaddr) or, for unix-socket
// connections, by host; `server` answers every connection to an address without its own.
class FakePgClient : public agent::PgClient {
 public:
  // By default `server` answers the role builders of roles/pg_roles.cpp (exec_params of the
  // CREATE ROLE and GRANT format() queries) with the statement the server would have built, so
  // the flow goes on to exec() it.
  FakePgClient() {
    server.answer_with("CREATE ROLE %I WITH %s", [](const std::vector<std::string>& p) {
      ScriptedServer::Reply r;
      r.result.columns = {"format"};
      if (p.size() == 3) {
        r.result.rows.push_back({"CREATE ROLE \"" + p[0] + "\" WITH " + p[1] +
                                 (p[2].empty() ? "" : " PASSWORD '" + p[2] + "'")});
      }
      return r;
    });
    server.answer_with("GRANT %I TO %I", [](const std::vector<std::string>& p) {
      ScriptedServer::Reply r;
      r.result.columns = {"format"};
      if (p.size() == 2) r.result.rows.push_back({"GRANT \"" + p[0] + "\" TO \"" + p[1] + "\""});
      return r;
    });
  }

  // The server at `address` (made on first use, answering no rows to everything).
  ScriptedServer& at(const std::string& address) { return servers[address]; }

  // Ping answers for an address, in order; once used up, ping_default.
  void script_ping(const std::string& address, std::vector<agent::PingStatus> answers) {
    pings_[address] = std::deque<agent::PingStatus>(answers.begin(), answers.end());
  }

  agent::PingStatus ping(const agent::ConnParams& params) override {
    ping_calls.push_back(params);
    auto& q = pings_[key(params)];
    if (q.empty()) return ping_default;
    const auto s = q.front();
    q.pop_front();
    return s;
  }

  std::unique_ptr<agent::PgSession> connect(const agent::ConnParams& params,
                                            agent::PgError* error) override {
    connect_calls.push_back(params);
    const auto it = servers.find(key(params));
    const ScriptedServer& s = it == servers.end() ? server : it->second;
    if (s.connect_error) {
      *error = *s.connect_error;
      return nullptr;
    }
    return std::make_unique<FakePgSession>(&s, &sql);
  }

  ScriptedServer server;                          // every address without its own
  std::map<std::string, ScriptedServer> servers;  // by hostaddr, or host for a socket
  agent::PingStatus ping_default = agent::PingStatus::kOk;

  std::vector<agent::ConnParams> ping_calls;
  std::vector<agent::ConnParams> connect_calls;
  std::vector<std::string> sql;  // every statement of every session, in order

 private:
  static std::string key(const agent::ConnParams& p) {
    return p.hostaddr.empty() ? p.host : p.hostaddr;
  }
  std::map<std::string, std::deque<agent::PingStatus>> pings_;
};

// Scripted replication-protocol answers, keyed like FakePgClient's servers.
class FakeReplicationClient : public agent::ReplicationClient {
 public:
  void set_system(const std::string& address, std::uint64_t sysid, std::uint64_t lsn = 0x3000060,
                  std::string cluster_name = "") {
    identify_[address] = agent::SystemInfo{sysid, 1, lsn, std::move(cluster_name)};
  }
  void set_identify_error(const std::string& address, agent::PgError error) {
    identify_[address] = std::move(error);
  }

  std::optional<agent::SystemInfo> identify_system(const agent::ConnParams& params,
                                                   agent::PgError* error) override {
    identify_calls.push_back(params);
    const auto it = identify_.find(key(params));
    if (it == identify_.end()) {
      *error = agent::PgError{"", "connection to server at \"" + key(params) +
                                      "\", port 5432 failed: Connection refused"};
      return std::nullopt;
    }
    if (const auto* e = std::get_if<agent::PgError>(&it->second)) {
      *error = *e;
      return std::nullopt;
    }
    return std::get<agent::SystemInfo>(it->second);
  }

  std::optional<agent::PgError> ensure_physical_slot(const agent::ConnParams& params,
                                                     const std::string& slot,
                                                     bool* created) override {
    slot_calls.emplace_back(params, slot);
    *created = slot_created;
    return slot_error;
  }

  std::optional<agent::SlotState> read_physical_slot(const agent::ConnParams& params,
                                                     const std::string& slot,
                                                     agent::PgError* error) override {
    read_slot_calls.emplace_back(params, slot);
    if (read_slot_error) {
      *error = *read_slot_error;
      return std::nullopt;
    }
    return slot_state;
  }

  std::optional<agent::PgError> drop_physical_slot(const agent::ConnParams& params,
                                                   const std::string& slot) override {
    drop_slot_calls.emplace_back(params, slot);
    return drop_slot_error;
  }

  // What READ_REPLICATION_SLOT answers: by default a healthy slot.
  agent::SlotState slot_state{true, 0x3000000};
  std::optional<agent::PgError> read_slot_error;
  std::vector<std::pair<agent::ConnParams, std::string>> read_slot_calls;
  std::vector<std::pair<agent::ConnParams, std::string>> drop_slot_calls;
  std::optional<agent::PgError> drop_slot_error;
  std::optional<agent::PgError> slot_error;
  bool slot_created = true;

  std::vector<agent::ConnParams> identify_calls;
  std::vector<std::pair<agent::ConnParams, std::string>> slot_calls;

 private:
  static std::string key(const agent::ConnParams& p) {
    return p.hostaddr.empty() ? p.host : p.hostaddr;
  }
  std::map<std::string, std::variant<agent::SystemInfo, agent::PgError>> identify_;
};

}  // namespace replagent::fakes
