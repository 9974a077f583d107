// HTTP request targets as the sidecar receives them from kubelets, HAProxy and Prometheus
// ("/replica?lag=1MB", "/read-only?lag=16MB&replication_state=streaming"): parse_target,
// the ?lag= size and the whole transport-free respond() over a primary, a streaming replica
// and "no poll yet". Any answer is fine as long as it is one of the statuses the design names
// and nothing crashes. The same bytes also go in as the Authorization header (with a status
// token configured), as a poller error text and through the echo escaping: a non-200 body is
// printable ASCII and bounded whatever the request was, an error text always reduces to one
// of the documented categories, and only "Bearer <token>" opens the full /status.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
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

constexpr const char* kToken = "fuzz-token";

bool printable_line(const std::string& body) {
  for (std::size_t i = 0; i < body.size(); ++i) {
    const auto c = static_cast<unsigned char>(body[i]);
    if ((c < 0x20 || c > 0x7e) && !(c == '\n' && i + 1 == body.size())) return false;
  }
  return true;
}

bool starts_with_bearer(std::string_view text) {
  constexpr std::string_view kScheme = "bearer ";
  if (text.size() < kScheme.size()) return false;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if ((text[i] | 0x20) != kScheme[i]) return false;
  }
  return true;
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

  const std::set<std::string> categories = {
      "timeout",         "authentication failed", "connection refused",     "starting up",
      "shutting down",   "too many connections",  "name resolution failed", "unreachable",
      "connection lost", "permission denied",     "primary unknown",        "error",
      "no answer"};
  FUZZ_CHECK(categories.count(error_category(target)) == 1);
  const std::string echoed = escape_for_echo(target);
  FUZZ_CHECK(printable_line(echoed) && echoed.size() <= kMaxEchoBytes + 3);
  const replagent::agent::Secret token(kToken);
  if (bearer_token_matches(target, token)) FUZZ_CHECK(starts_with_bearer(target));
  FUZZ_CHECK(!bearer_token_matches(target, replagent::agent::Secret()));

  const auto now = std::chrono::steady_clock::now();
  for (const auto& snapshot :
       {std::shared_ptr<const Snapshot>(), make(Role::kPrimary, now), make(Role::kReplica, now)}) {
    RouteContext ctx;
    ctx.snapshot = snapshot;
    ctx.now = now;
    ctx.params.pod_name = "todo-db-1";
    ctx.params.ordinal = 1;
    ctx.params.status_token = token;
    ctx.render_metrics = [] { return std::string("pg_up 1\n"); };
    for (const char* method : {"GET", "OPTIONS"}) {
      const Response r = respond(Request{method, target, target}, ctx);
      FUZZ_CHECK(r.status == 200 || r.status == 400 || r.status == 404 || r.status == 503);
      if (r.status != 200) FUZZ_CHECK(std::string_view(method) == "OPTIONS" || !r.body.empty());
      if (r.status != 200) FUZZ_CHECK(printable_line(r.body) && r.body.size() < 400);
    }
    // The fuzzed bytes as the method: 405, echoed escaped.
    if (target != "GET" && target != "HEAD" && target != "OPTIONS") {
      const Response r = respond(Request{target, "/primary"}, ctx);
      FUZZ_CHECK(r.status == 405 && printable_line(r.body) && r.body.size() < 400);
    }
    // The fuzzed bytes as the local server's error: /readyz and /status never repeat them
    // (unless they happen to be a category word).
    if (snapshot) {
      auto down = std::make_shared<Snapshot>(*snapshot);
      down->server_up = false;
      down->server_error = target;
      ctx.snapshot = down;
      const std::string category = error_category(target);
      const Response ready = respond(Request{"GET", "/readyz"}, ctx);
      FUZZ_CHECK(ready.status == 503 &&
                 ready.body == "postgres is not accepting connections: " + category + "\n");
      const Response status = respond(Request{"GET", "/status"}, ctx);
      FUZZ_CHECK(status.status == 200);
      if (!target.empty()) {
        FUZZ_CHECK(status.body.find("\"server_error\":\"" + category + "\"") != std::string::npos);
      }
    }
  }

  return 0;
}
