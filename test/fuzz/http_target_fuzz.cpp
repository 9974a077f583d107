// HTTP request targets as the sidecar receives them from kubelets, HAProxy and Prometheus
// ("/replica?lag=1MB", "/read-only?lag=16MB&replication_state=streaming"): parse_target,
// the ?lag= size and the whole transport-free respond() over a primary, a streaming replica
// and "no poll yet". Any answer is fine as long as it is one of the statuses the design names
// and nothing crashes.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "probes/routes.hpp"
#include "test/fuzz/fuzz_check.hpp"

namespace {

using namespace replagent::probes;

std::shared_ptr<const Snapshot> make(Role role, std::chrono::steady_clock::time_point now) {
  auto s = std::make_shared<Snapshot>();
  s->sequence = 7;
  s->taken_at = now;
  s->server_up = true;
  s->role = role;
  s->system_identifier = 7311234567890123456ULL;
  s->timeline = 1;
  if (role == Role::kPrimary) {
    s->current_lsn = 0x3000060;
    s->replicas.push_back(ReplicaRow{"todo-db-1", "streaming", 0, 0, 0, 128, 0.0, 0.0, 0.1});
    s->slots.push_back(SlotRow{"todo_db_1", true, 4096});
  } else {
    s->in_recovery = true;
    s->receive_lsn = 0x3000000;
    s->replay_lsn = 0x2ff0000;
    s->latest_end_lsn = 0x3000000;
    s->primary_lsn = 0x3000060;
    s->wal_receiver_status = "streaming";
    s->replay_delay_seconds = 0.5;
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string target(reinterpret_cast<const char*>(data), size);

  if (auto t = parse_target(target)) {
    FUZZ_CHECK(!t->path.empty() && t->path.front() == '/');
    const LagLimit lag = parse_lag(t->query, 1234);
    if (!t->query.count("lag")) FUZZ_CHECK(!lag.error && lag.bytes == 1234);
    if (lag.error) FUZZ_CHECK(lag.error->status == 400 && t->query.count("lag"));
  }

  const auto now = std::chrono::steady_clock::now();
  for (const auto& snapshot :
       {std::shared_ptr<const Snapshot>(), make(Role::kPrimary, now), make(Role::kReplica, now)}) {
    RouteContext ctx;
    ctx.snapshot = snapshot;
    ctx.now = now;
    ctx.params.pod_name = "todo-db-1";
    ctx.params.ordinal = 1;
    ctx.render_metrics = [] { return std::string("pg_up 1\n"); };
    for (const char* method : {"GET", "OPTIONS"}) {
      const Response r = respond(Request{method, target}, ctx);
      FUZZ_CHECK(r.status == 200 || r.status == 400 || r.status == 404 || r.status == 503);
      if (r.status != 200) FUZZ_CHECK(std::string_view(method) == "OPTIONS" || !r.body.empty());
    }
  }

  return 0;
}
