#include "test/support/prometheus.hpp"

#include <signal.h>

#include <stdexcept>

#include "test/support/scratch.hpp"

namespace replagent::test {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {
constexpr const char* kPrometheus = "/usr/bin/prometheus";
constexpr const char* kPromtool = "/usr/bin/promtool";
}  // namespace

RunResult promtool_check_metrics(const std::string& exposition, const fs::path& dir,
                                 const std::string& name) {
  fs::create_directories(dir);
  const fs::path file = dir / (name + ".metrics");
  write_file(file, exposition);
  SpawnOptions opts;
  // promtool reads the exposition from stdin; the harness gives children none, so a shell
  // redirects the file. Paths come from the test itself (no quoting issues: no spaces).
  opts.argv = {"/bin/sh", "-c",
               std::string("exec ") + kPromtool + " check metrics < " + file.string()};
  return run_process(opts, 30s);
}

PrometheusServer::PrometheusServer(const fs::path& dir, const std::string& ip,
                                   const std::vector<Target>& targets)
    : ip_(ip), log_(dir / "prometheus.log") {
  fs::create_directories(dir / "tsdb");
  port_ = free_tcp_port(ip_);
  // scrape_timeout must not exceed scrape_interval (Prometheus refuses the config).
  std::string cfg =
      "global:\n"
      "  scrape_interval: 1s\n"
      "  scrape_timeout: 900ms\n"
      "  evaluation_interval: 1s\n"
      "scrape_configs:\n"
      "  - job_name: replagent\n"
      "    static_configs:\n";
  for (const auto& t : targets) {
    cfg += "      - targets: ['" + t.address + "']\n        labels: {pod: '" + t.pod + "'}\n";
  }
  const fs::path cfg_path = dir / "prometheus.yml";
  write_file(cfg_path, cfg);

  SpawnOptions opts;
  opts.argv = {kPrometheus,
               "--config.file=" + cfg_path.string(),
               "--storage.tsdb.path=" + (dir / "tsdb").string(),
               "--web.listen-address=" + address(),
               "--storage.tsdb.retention.time=1h",
               "--log.level=info"};
  opts.cwd = dir;
  opts.stdout_path = log_;
  opts.stderr_path = log_;
  process_ = std::make_unique<ChildProcess>(opts);
  const bool ready = wait_until(
      [&] {
        if (!process_->running()) return true;
        return http_get(ip_, port_, "/-/ready", 1s).status == 200;
      },
      30s, 100ms);
  if (auto s = process_->poll()) {
    throw std::runtime_error("prometheus " + s->describe() + ":\n" + log_tail());
  }
  if (!ready) throw std::runtime_error("prometheus not ready within 30 s:\n" + log_tail());
}

PrometheusServer::~PrometheusServer() {
  try {
    if (process_->running()) process_->stop(SIGTERM, 10s);
  } catch (const std::exception&) {
  }
}

HttpReply PrometheusServer::query(const std::string& promql) const {
  return http_get(ip_, port_, "/api/v1/query?query=" + url_encode(promql), 5s);
}

std::string PrometheusServer::log_tail(int lines) const { return tail_file(log_, lines); }

}  // namespace replagent::test
