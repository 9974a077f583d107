// decide_promote: when `replagent promote` may end recovery (table-driven).
#include <gtest/gtest.h>

#include "roles/promote.hpp"

namespace replagent::roles {
namespace {

using A = PromoteDecision::Action;
using agent::DnsStatus;
using agent::PingStatus;

PromoteObservation observed(bool in_recovery, DnsStatus dns,
                            std::map<std::string, PingStatus> pings = {}) {
  PromoteObservation o;
  o.in_recovery = in_recovery;
  o.primary_host = "todo-db-0.todo-db.default.svc.cluster.local";
  o.primary_dns = dns;
  o.primary_dns_detail = "detail";
  o.primary_pings = std::move(pings);
  return o;
}

TEST(DecidePromote, Table) {
  struct Case {
    const char* name;
    PromoteObservation o;
    A want;
    const char* reason_has;
  };
  const Case cases[] = {
      {"already primary", observed(false, DnsStatus::kOk, {{"10.0.0.1", PingStatus::kOk}}),
       A::kAlreadyPrimary, "already is a primary"},
      {"primary gone from DNS", observed(true, DnsStatus::kNotFound), A::kPromote, "NXDOMAIN"},
      {"primary's address answers nothing",
       observed(true, DnsStatus::kOk, {{"10.0.0.1", PingStatus::kNoResponse}}), A::kPromote,
       "no server answers"},
      {"primary answers", observed(true, DnsStatus::kOk, {{"10.0.0.1", PingStatus::kOk}}),
       A::kRefuse, "still answers at 10.0.0.1"},
      {"primary starting up (rejects)",
       observed(true, DnsStatus::kOk,
                {{"10.0.0.1", PingStatus::kNoResponse}, {"10.0.0.2", PingStatus::kRejected}}),
       A::kRefuse, "10.0.0.2"},
      {"DNS timed out", observed(true, DnsStatus::kTimeout), A::kCannotTell, "cannot tell"},
      {"DNS server failure", observed(true, DnsStatus::kServerFailure), A::kCannotTell,
       "retry when the cluster DNS answers"},
  };
  for (const auto& c : cases) {
    const PromoteDecision d = decide_promote(c.o);
    EXPECT_EQ(d.action, c.want) << c.name << ": " << d.reason;
    EXPECT_NE(d.reason.find(c.reason_has), std::string::npos) << c.name << ": " << d.reason;
  }
}

}  // namespace
}  // namespace replagent::roles
