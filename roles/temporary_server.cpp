#include "roles/temporary_server.hpp"

#include <sys/stat.h>

#include <cstring>
#include <filesystem>

#include "agent/fs.hpp"
#include "agent/topology.hpp"
#include "roles/data_dir.hpp"
#include "roles/init_steps.hpp"
#include "roles/pg_roles.hpp"

namespace replagent::roles::detail {
namespace {

namespace fs = std::filesystem;
using agent::ExitCode;

agent::ProcessSpec pg_ctl(const agent::Config& c, const std::vector<std::string>& args) {
  agent::ProcessSpec spec;
  spec.program = "pg_ctl";
  spec.search_dir = c.postgres.bin_dir;
  spec.args = args;
  spec.timeout = std::chrono::minutes(5);
  return spec;
}

// The temporary server through which init creates and alters roles: it listens on a unix
// socket in init's private 0700 run directory only, so nothing else can connect, and reads its
// own pg_hba there (trust on that socket), so the data directory's pg_hba can use peer for
// local connections without knowing which OS user runs init.
class TemporaryServer {
 public:
  TemporaryServer(const agent::Config& c, InitDeps& deps, std::string data_dir, std::string run)
      : c_(c), deps_(deps), data_dir_(std::move(data_dir)), run_(std::move(run)) {}
  TemporaryServer(const TemporaryServer&) = delete;
  TemporaryServer& operator=(const TemporaryServer&) = delete;
  ~TemporaryServer() { stop(); }

  // Empty on success, else why not.
  std::string start() {
    const std::string hba = (fs::path(run_) / "temporary_hba.conf").string();
    agent::write_file_atomic(hba, "local all all trust\n", 0600);
    const std::string log = (fs::path(run_) / "temporary-server.log").string();
    // A server left running by an init that was killed (its socket is in our run directory)
    // would hold the data directory: stop it first.
    stop_leftover();
    const std::string opts = fmt::format(
        "-c listen_addresses='' -c unix_socket_directories='{}' -p {} "
        "-c hba_file='{}'",
        run_, c_.postgres.port, hba);
    // Crash recovery of a primary that was killed runs here, before the real start: give it
    // as long as it takes rather than pg_ctl's default minute.
    auto spec = pg_ctl(c_, {"-D", data_dir_, "-w", "-t", "86400", "-l", log, "-o", opts, "start"});
    spec.timeout.reset();
    started_ = true;  // even when pg_ctl fails, the server may be starting: stop() finds out
    if (auto r = run_logged(deps_, spec); !r.ok())
      return fmt::format("pg_ctl {}: {}", r.describe(), failure_line(r));
    return "";
  }

  std::unique_ptr<agent::PgSession> connect(agent::PgError* err) {
    return deps_.pg.connect(agent::socket_superuser(c_, run_, "replagent-init"), err);
  }

  // Empty on success (or when never started), else why not.
  std::string stop() {
    if (!started_) return "";
    started_ = false;
    if (auto r = run_logged(deps_, stop_spec()); !r.ok() && pid_file_names_run_dir())
      return fmt::format("pg_ctl {}: {}", r.describe(), failure_line(r));
    return "";
  }

 private:
  // A clean-up step: it runs even after SIGTERM, or the server would stay on the data directory.
  agent::ProcessSpec stop_spec() const {
    auto spec = pg_ctl(c_, {"-D", data_dir_, "-m", "fast", "-w", "-t", "120", "stop"});
    spec.runs_while_stopping = true;
    return spec;
  }

  bool pid_file_names_run_dir() const { return server_socket_dir(data_dir_) == run_; }

  void stop_leftover() {
    if (!pid_file_names_run_dir()) return;
    spdlog::warn(
        "a temporary server of an earlier, interrupted init still runs on {}: "
        "stopping it",
        data_dir_);
    run_logged(deps_, stop_spec());
  }

  const agent::Config& c_;
  InitDeps& deps_;
  std::string data_dir_;
  std::string run_;
  bool started_ = false;
};

}  // namespace

agent::ProcessResult run_logged(InitDeps& deps, agent::ProcessSpec spec) {
  const std::string name = spec.program;
  return deps.runner.run(spec, [&](std::string_view line) { spdlog::debug("{}: {}", name, line); });
}

RunDir::RunDir(std::string p) : path(std::move(p)) {
  fs::create_directories(path);
  if (::chmod(path.c_str(), 0700) != 0) {
    throw agent::AgentError(ExitCode::kFailed,
                            fmt::format("cannot make {} private: {}", path, std::strerror(errno)));
  }
}

RunDir::~RunDir() {
  std::error_code ec;
  fs::remove_all(path, ec);
}

std::optional<InitOutcome> reconcile_roles_on(const agent::Config& c, InitDeps& deps,
                                              const std::string& data_dir, const std::string& run,
                                              const OnTemporaryServer& then) {
  TemporaryServer server(c, deps, data_dir, run);
  if (auto why = server.start(); !why.empty())
    return outcome(ExitCode::kFailed, "temporary server did not start: " + why);
  std::optional<InitOutcome> failed;
  {
    agent::PgError err;
    auto session = server.connect(&err);
    if (!session) {
      failed = outcome(ExitCode::kFailed, "cannot connect to the temporary server: " + err.message);
    } else if (auto e = reconcile_roles(*session, c)) {
      failed = outcome(ExitCode::kFailed, *e);
    } else if (auto e2 = ensure_app_database(*session, c)) {
      failed = outcome(ExitCode::kFailed, *e2);
    }
  }
  if (!failed && then) failed = then();
  if (auto why = server.stop(); !why.empty() && !failed)
    failed = outcome(ExitCode::kFailed, "temporary server did not stop: " + why);
  return failed;
}

}  // namespace replagent::roles::detail
