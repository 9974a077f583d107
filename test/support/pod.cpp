#include "test/support/pod.hpp"

#include <signal.h>

#include <stdexcept>

#include "agent/dns.hpp"
#include "test/support/dns_server.hpp"
#include "test/support/pod_env.hpp"
#include "test/support/scratch.hpp"

#ifndef REPLAGENT_BINARY
#error "REPLAGENT_BINARY must name the replagent executable (set by test/CMakeLists.txt)"
#endif

namespace replagent::test {
namespace fs = std::filesystem;

namespace {

std::string read_from(const fs::path& p) {
  try {
    return read_file(p);
  } catch (const std::exception&) {
    return "";
  }
}

}  // namespace

InitRun::InitRun(std::unique_ptr<ChildProcess> child, std::chrono::steady_clock::time_point start)
    : child_(std::move(child)), start_(start) {}

InitRun::~InitRun() {
  try {
    if (child_->running()) child_->stop(SIGTERM, std::chrono::seconds(10));
  } catch (const std::exception&) {
    // ~ChildProcess SIGKILLs the group.
  }
}

InitResult InitRun::wait(std::chrono::milliseconds timeout) {
  InitResult r;
  auto s = child_->wait_for(timeout);
  if (!s) {
    r.timed_out = true;
    s = child_->stop(SIGKILL, std::chrono::milliseconds(0));
  }
  r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start_);
  r.status = *s;
  r.exit_code = r.timed_out ? -1 : s->shell_code();
  r.out = read_from(child_->stdout_path());
  r.err = read_from(child_->stderr_path());
  return r;
}

Pod::Pod(const PodSetConfig& set, int ordinal, std::string ip)
    : set_(set),
      ordinal_(ordinal),
      ip_(std::move(ip)),
      volume_(set.scratch / ("vol-" + std::to_string(ordinal))),
      pgdata_(volume_ / "pgdata"),
      socket_dir_(set.scratch / ("sock-" + std::to_string(ordinal))) {
  // The volume exists (a mounted PVC); PGDATA, a subdirectory of it, does not yet.
  fs::create_directories(volume_);
  fs::permissions(volume_, fs::perms::owner_all);
  fs::create_directories(socket_dir_);
  // The agent writes the outcome only where the file exists (/dev/termination-log).
  write_file(termination_log(), "");
}

Pod::~Pod() {
  if (postgres_ && postgres_->running()) {
    // Immediate shutdown: quick, and unlike SIGKILL it releases shared memory. The
    // ChildProcess destructor SIGKILLs the group if even that fails.
    try {
      postgres_->stop(SIGQUIT, std::chrono::seconds(10));
    } catch (const std::exception&) {
    }
  }
}

std::string Pod::name() const { return std::string(kSetName) + "-" + std::to_string(ordinal_); }

std::string Pod::dns_name() const {
  return name() + "." + kSetName + "." + set_.ns + ".svc.cluster.local";
}

fs::path Pod::log_path(const std::string& what) const {
  return set_.scratch / "logs" / (name() + "." + what);
}

fs::path Pod::termination_log() const {
  return set_.scratch / ("termination-log-" + std::to_string(ordinal_));
}

fs::path Pod::postgres_log() const { return log_path("postgres.log"); }

bool Pod::has_pg_version() const { return fs::exists(pgdata_ / "PG_VERSION"); }

Env Pod::init_env() const {
  PodEnvSpec spec;
  spec.name = name();
  spec.ns = set_.ns;
  spec.pgdata = pgdata_;
  spec.dns_server = set_.dns ? set_.dns->server() : "";
  spec.port = std::to_string(set_.port);
  spec.ip = ip_;
  spec.termination_log = termination_log();
  spec.superuser_password_file = set_.superuser_password_file;
  spec.replication_password_file = set_.replication_password_file;
  spec.monitor_password_file = set_.monitor_password_file;
  spec.backup_password_file = set_.backup_password_file;
  const EnvList chart = chart_pod_env(spec);
  Env env(chart.begin(), chart.end());
  // Shorter than the chart's defaults: a test that waits for a primary or a DNS answer on
  // purpose must not take minutes.
  env["REPLAGENT_DNS_TIMEOUT"] = "500ms";
  env["REPLAGENT_INIT_WAIT_TIMEOUT"] = "30s";
  env["REPLAGENT_INIT_BACKOFF_MAX"] = "1s";
  return env;
}

std::unique_ptr<InitRun> Pod::start_init(const Env& extra_env) {
  fs::create_directories(set_.scratch / "logs");
  const std::string run = std::to_string(init_logs_.size() + 1);
  SpawnOptions opts;
  opts.argv = {REPLAGENT_BINARY, "--log-format", "json", "init"};
  opts.env = init_env();
  for (const auto& [k, v] : extra_env) opts.env[k] = v;
  opts.stdout_path = log_path("init-" + run + ".stdout");
  opts.stderr_path = log_path("init-" + run + ".stderr");
  // If the test dies, the agent gets the stop request a kubelet would send: it cleans up.
  opts.parent_death_signal = SIGTERM;
  init_logs_.push_back(opts.stderr_path);
  auto start = std::chrono::steady_clock::now();
  auto child = std::make_unique<ChildProcess>(opts);
  return std::make_unique<InitRun>(std::move(child), start);
}

InitResult Pod::run_init(const Env& extra_env, std::chrono::milliseconds timeout) {
  return start_init(extra_env)->wait(timeout);
}

void Pod::publish_dns() {
  if (set_.dns == nullptr) throw std::logic_error("no DNS server in this test");
  set_.dns->set_record(dns_name(), ip_);
}

void Pod::unpublish_dns() {
  if (set_.dns == nullptr) throw std::logic_error("no DNS server in this test");
  set_.dns->remove_record(dns_name());
}

void Pod::initdb_by_hand() {
  RunResult r = pg_tool("initdb", {"-D", pgdata_.string(), "-U", "postgres", "--auth=trust",
                                   "--data-checksums", "--no-sync", "--no-instructions"});
  if (r.exit_code() != 0) {
    throw std::runtime_error("initdb " + pgdata_.string() + " " + r.status.describe() + ":\n" +
                             r.out + r.err);
  }
}

void Pod::start_postgres(std::chrono::milliseconds timeout) {
  if (postgres_running()) throw std::logic_error(name() + ": postgres already running");
  fs::create_directories(set_.scratch / "logs");
  SpawnOptions opts;
  opts.argv = {std::string(kPgBinDir) + "/postgres", "-D", pgdata_.string(), "-c",
               "listen_addresses=" + ip_, "-p", std::to_string(set_.port), "-k",
               socket_dir_.string(),
               // Small and quiet: a test pod needs neither 128 MB of buffers nor a collector.
               "-c", "shared_buffers=16MB", "-c", "logging_collector=off"};
  opts.stdout_path = postgres_log();
  opts.stderr_path = postgres_log();
  opts.env["LC_MESSAGES"] = "C";
  postgres_ = std::make_unique<ChildProcess>(opts);
  const bool ready = wait_until(
      [&] {
        if (!postgres_->running()) return true;  // reported below
        return pg_tool("pg_isready",
                       {"-q", "-h", socket_dir_.string(), "-p", std::to_string(set_.port), "-U",
                        "postgres", "-d", "postgres"},
                       {}, std::chrono::seconds(5))
                   .exit_code() == 0;
      },
      timeout, std::chrono::milliseconds(100));
  if (auto s = postgres_->poll()) {
    throw std::runtime_error(name() + ": postgres " + s->describe() + ":\n" +
                             tail_file(postgres_log(), 30));
  }
  if (!ready) {
    throw std::runtime_error(name() + ": postgres did not accept connections within " +
                             std::to_string(timeout.count()) + " ms:\n" +
                             tail_file(postgres_log(), 30));
  }
}

bool Pod::postgres_running() { return postgres_ && postgres_->running(); }

void Pod::stop_postgres() {
  if (!postgres_running()) return;
  ExitStatus s = postgres_->stop(SIGINT, std::chrono::seconds(30));
  if (!s.exited || s.code != 0) {
    throw std::runtime_error(name() + ": postgres fast shutdown: " + s.describe() + ":\n" +
                             tail_file(postgres_log(), 30));
  }
}

void Pod::kill_postgres() {
  if (!postgres_running()) return;
  // The whole group at once, as when a node dies: no backend survives to hold the shared
  // memory that a restart on the same data directory checks for.
  postgres_->signal_group(SIGKILL);
  postgres_->wait_for(std::chrono::seconds(10));
  wait_until([&] { return !postgres_->group_alive(); }, std::chrono::seconds(10));
}

RunResult Pod::pg_tool(const std::string& tool, const std::vector<std::string>& args,
                       const Env& extra_env, std::chrono::milliseconds timeout) {
  SpawnOptions opts;
  opts.argv = {std::string(kPgBinDir) + "/" + tool};
  opts.argv.insert(opts.argv.end(), args.begin(), args.end());
  opts.env = {{"PGPASSWORD", set_.superuser_password}, {"LC_ALL", "C"}, {"PGCONNECT_TIMEOUT", "5"}};
  for (const auto& [k, v] : extra_env) opts.env[k] = v;
  // Tools' output goes to one shared log (appended), so a failure report can show it.
  fs::create_directories(set_.scratch / "logs");
  opts.stderr_path = log_path("tools.stderr");
  ++tool_runs_;
  return run_process(opts, timeout);
}

RunResult Pod::psql_result(const std::string& sql, const std::string& conninfo,
                           const Env& extra_env) {
  const std::string target = conninfo.empty() ? "host=" + socket_dir_.string() +
                                                    " port=" + std::to_string(set_.port) +
                                                    " user=postgres dbname=postgres"
                                              : conninfo;
  return pg_tool("psql", {"-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", target, "-c", sql},
                 extra_env, std::chrono::seconds(60));
}

std::string Pod::psql(const std::string& sql) {
  RunResult r = psql_result(sql);
  if (r.exit_code() != 0) {
    throw std::runtime_error(name() + ": psql -c \"" + sql + "\" " + r.status.describe() + ": " +
                             r.err);
  }
  std::string out = r.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string Pod::failure_report() const {
  std::string s = "---- " + name() + " (" + agent::host_port(ip_, set_.port) + ", PGDATA " +
                  pgdata_.string() + ")\n";
  if (!init_logs_.empty()) {
    s += "-- last init stderr " + init_logs_.back().string() + ":\n" +
         tail_file(init_logs_.back(), 30);
  }
  if (fs::exists(postgres_log())) {
    s += "-- postgres log " + postgres_log().string() + ":\n" + tail_file(postgres_log(), 20);
  }
  if (tool_runs_ > 0 && fs::exists(log_path("tools.stderr"))) {
    s += "-- tools stderr:\n" + tail_file(log_path("tools.stderr"), 10);
  }
  return s;
}

}  // namespace replagent::test
