// Fakes for the effect interfaces (DNS, libpq, child processes, time), so unit tests drive
// every branch of the init flows without servers and without sleeping. Header only.
#pragma once

#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "agent/clock.hpp"
#include "agent/dns.hpp"
#include "agent/pg.hpp"
#include "agent/pg_replication.hpp"
#include "agent/process.hpp"

namespace replagent::fakes {

// Scripted A-record answers per name. A name can "appear" after a number of NotFound answers
// (pod 0 not yet created, DNS not yet updated); unknown names are NotFound.
class FakeResolver : public agent::Resolver {
 public:
  // `name` answers `addresses` from call number appear_after + 1 on, NotFound before.
  void set(const std::string& name, std::vector<std::string> addresses, int appear_after = 0) {
    Entry e;
    e.answer.status = agent::DnsStatus::kOk;
    e.answer.addresses = std::move(addresses);
    e.appear_after = appear_after;
    entries_[name] = std::move(e);
  }
  // `name` always answers `answer` (e.g. kServerFailure).
  void set_answer(const std::string& name, agent::DnsAnswer answer) {
    entries_[name] = Entry{std::move(answer), 0};
  }

  agent::DnsAnswer resolve_ipv4(const std::string& name) override {
    queries.push_back(name);
    const int n = ++calls_[name];
    if (on_query) on_query(name);
    const auto it = entries_.find(name);
    if (it == entries_.end() || n <= it->second.appear_after) {
      return agent::DnsAnswer{agent::DnsStatus::kNotFound, {}, "Domain name not found"};
    }
    return it->second.answer;
  }

  int calls(const std::string& name) const {
    const auto it = calls_.find(name);
    return it == calls_.end() ? 0 : it->second;
  }

  std::vector<std::string> queries;                       // every name asked, in order
  std::function<void(const std::string& name)> on_query;  // runs on every query (assertions)

 private:
  struct Entry {
    agent::DnsAnswer answer;
    int appear_after = 0;
  };
  std::map<std::string, Entry> entries_;
  std::map<std::string, int> calls_;
};

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

// Writes what the init flows' post-clone checks look at: PG_VERSION, global/pg_control (the
// first 8 bytes are the system identifier, as in ControlFileData), the configuration files,
// and standby.signal for a replica.
inline void make_fake_data_dir(const std::string& dir, std::uint64_t sysid, bool standby) {
  namespace fs = std::filesystem;
  fs::create_directories(fs::path(dir) / "global");
  fs::create_directories(fs::path(dir) / "base" / "1");
  std::ofstream(fs::path(dir) / "PG_VERSION") << "15\n";
  {
    std::ofstream control(fs::path(dir) / "global" / "pg_control", std::ios::binary);
    control.write(reinterpret_cast<const char*>(&sysid), sizeof sysid);
    const std::string rest(248, '\0');
    control.write(rest.data(), static_cast<std::streamsize>(rest.size()));
  }
  std::ofstream(fs::path(dir) / "postgresql.conf")
      << "max_connections = 100\nshared_buffers = 128MB\n";
  std::ofstream(fs::path(dir) / "pg_hba.conf")
      << "local   all             all                                     trust\n"
         "host    all             all             127.0.0.1/32            trust\n";
  std::ofstream(fs::path(dir) / "base" / "1" / "1255") << "catalog";
  if (standby) {
    std::ofstream(fs::path(dir) / "standby.signal");
    // What pg_basebackup -R writes.
    std::ofstream(fs::path(dir) / "postgresql.auto.conf")
        << "# Do not edit this file manually!\n"
           "# It will be overwritten by the ALTER SYSTEM command.\n"
           "primary_conninfo = 'user=replicator passfile=''/tmp/x/pgpass'' host=10.0.0.10'\n"
           "primary_slot_name = 'todo_db_1'\n";
  } else {
    std::ofstream(fs::path(dir) / "postgresql.auto.conf")
        << "# Do not edit this file manually!\n"
           "# It will be overwritten by the ALTER SYSTEM command.\n";
  }
  ::chmod(dir.c_str(), 0700);
}

// The value after `flag` in a spec's args ("-D" -> the target directory), or "".
inline std::string arg_after(const agent::ProcessSpec& spec, const std::string& flag) {
  for (std::size_t i = 0; i + 1 < spec.args.size(); ++i)
    if (spec.args[i] == flag) return spec.args[i + 1];
  return "";
}

inline agent::ProcessResult exited(int code, std::string output_tail = "") {
  agent::ProcessResult r;
  r.end = agent::ProcessResult::End::kExited;
  r.exit_code = code;
  r.output_tail = std::move(output_tail);
  return r;
}

// Records every ProcessSpec; answers per program name (the file name of spec.program) with a
// scripted result after emitting scripted output lines and running a scripted effect (e.g.
// creating the data directory pg_basebackup or initdb would have written). Unscripted programs
// exit 0 without doing anything.
class FakeProcessRunner : public agent::ProcessRunner {
 public:
  struct Script {
    agent::ProcessResult result = exited(0);
    std::vector<std::string> lines;
    std::function<void(const agent::ProcessSpec&)> effect;
  };

  // Scripts for successive runs of `program`; the last one repeats.
  void script(const std::string& program, Script s) { scripts_[program].push_back(std::move(s)); }

  // pg_basebackup -D <dir> -R: a replica data directory of cluster `sysid`.
  void basebackup_creates(std::uint64_t sysid, std::vector<std::string> lines = {}) {
    Script s;
    s.lines = std::move(lines);
    s.effect = [sysid](const agent::ProcessSpec& spec) {
      make_fake_data_dir(arg_after(spec, "-D"), sysid, /*standby=*/true);
    };
    script("pg_basebackup", std::move(s));
  }
  // initdb -D <dir>: a primary data directory of cluster `sysid`.
  void initdb_creates(std::uint64_t sysid) {
    Script s;
    s.effect = [sysid](const agent::ProcessSpec& spec) {
      make_fake_data_dir(arg_after(spec, "-D"), sysid, /*standby=*/false);
    };
    script("initdb", std::move(s));
  }

  agent::ProcessResult run(const agent::ProcessSpec& spec,
                           const agent::LineHandler& on_line) override {
    specs.push_back(spec);
    const std::string name = std::filesystem::path(spec.program).filename().string();
    auto& queue = scripts_[name];
    if (queue.empty()) return exited(0);
    const Script s = queue.front();
    if (queue.size() > 1) queue.pop_front();
    for (const auto& line : s.lines) on_line(line);
    if (s.effect) s.effect(spec);
    return s.result;
  }

  int count(const std::string& program) const {
    int n = 0;
    for (const auto& s : specs) n += s.program == program;
    return n;
  }
  // The first spec run for `program`, or nullptr.
  const agent::ProcessSpec* find(const std::string& program) const {
    for (const auto& s : specs)
      if (s.program == program) return &s;
    return nullptr;
  }

  std::vector<agent::ProcessSpec> specs;

 private:
  std::map<std::string, std::deque<Script>> scripts_;
};

// Time that passes only when someone sleeps (or the test advances it); never really sleeps.
class FakeClock : public agent::Clock {
 public:
  time_point now() const override { return now_; }
  wall_time wall_now() const override { return wall_source ? wall_source() : wall; }
  // Sleeping advances the time; a sleep once `stop` is requested returns false at once, as the
  // real clock's does.
  bool sleep_for(std::chrono::milliseconds d) override {
    if (stop.stop_requested()) return false;
    sleeps.push_back(d);
    now_ += d;
    return true;
  }
  void advance(std::chrono::milliseconds d) { now_ += d; }

  std::chrono::milliseconds total_slept() const {
    std::chrono::milliseconds total{0};
    for (auto d : sleeps) total += d;
    return total;
  }

  std::vector<std::chrono::milliseconds> sleeps;
  wall_time wall{};                        // what wall_now() answers
  std::function<wall_time()> wall_source;  // when set, answers instead (a moving calendar)
  agent::StopToken stop;

 private:
  // Far from the steady clock's epoch, so "now - something" never underflows.
  time_point now_ = time_point{} + std::chrono::hours(1000);
};

// A fresh directory under /tmp, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "replagent-unit-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace replagent::fakes
