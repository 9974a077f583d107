// The primary's sidecar drops the slot of a pod gone from the headless Service for
// sidecar.slot_drop_after, and nothing else.
#include "probes/slot_janitor.hpp"

#include <gtest/gtest.h>

#include "test/unit/fakes.hpp"

namespace replagent::probes {
namespace {

using namespace std::chrono_literals;
using Time = std::chrono::steady_clock::time_point;

const std::string kPod2 = "todo-db-2.todo-db.default.svc.cluster.local";

struct Janitor {
  Janitor() {
    SlotJanitorSettings s;
    s.set = "todo-db";
    s.service = "todo-db";
    s.ns = "default";
    s.cluster_domain = "cluster.local";
    s.drop_after = 10min;
    s.replication.host = "10.0.0.10";
    s.replication.user = "replicator";
    s.replication.replication = true;
    janitor = std::make_unique<SlotJanitor>(s, resolver, replication);
  }
  std::vector<std::string> dropped() const {
    std::vector<std::string> out;
    for (const auto& [params, slot] : replication.drop_slot_calls) out.push_back(slot);
    return out;
  }
  fakes::FakeResolver resolver;
  fakes::FakeReplicationClient replication;
  std::unique_ptr<SlotJanitor> janitor;
};

const Time t0 = Time() + 1000s;

TEST(SlotJanitor, DropsTheSlotOfAPodGoneForTheWholeDelay) {
  Janitor j;  // todo-db-2 has no record: NXDOMAIN
  const std::vector<SlotRow> slots = {{"todo_db_1", true, 0}, {"todo_db_2", false, 1 << 30}};
  j.resolver.set("todo-db-1.todo-db.default.svc.cluster.local", {"10.0.0.11"});
  j.janitor->review(slots, t0);
  j.janitor->review(slots, t0 + 9min);
  EXPECT_TRUE(j.dropped().empty()) << "not before sidecar.slot_drop_after";
  j.janitor->review(slots, t0 + 10min);
  EXPECT_EQ(j.dropped(), std::vector<std::string>{"todo_db_2"});
  EXPECT_EQ(j.janitor->dropped(), 1u);
  EXPECT_TRUE(j.replication.drop_slot_calls[0].first.replication)
      << "over a replication connection";
  EXPECT_EQ(j.replication.drop_slot_calls[0].first.user, "replicator");
  EXPECT_EQ(j.resolver.calls("todo-db-1.todo-db.default.svc.cluster.local"), 0)
      << "an active slot's pod is not even looked up";
}

TEST(SlotJanitor, APodThatReturnsStartsTheClockAgain) {
  Janitor j;
  const std::vector<SlotRow> slots = {{"todo_db_2", false, 0}};
  j.janitor->review(slots, t0);
  j.resolver.set(kPod2, {"10.0.0.12"});  // recreated
  j.janitor->review(slots, t0 + 5min);
  j.resolver.set_answer(kPod2, agent::DnsAnswer{agent::DnsStatus::kNotFound, {}, ""});
  j.janitor->review(slots, t0 + 11min);
  EXPECT_TRUE(j.dropped().empty()) << "gone again only since 11min";
  j.janitor->review(slots, t0 + 21min);
  EXPECT_EQ(j.dropped(), std::vector<std::string>{"todo_db_2"});
}

TEST(SlotJanitor, NoAnswerIsNoEvidence) {
  Janitor j;
  j.resolver.set_answer(kPod2, agent::DnsAnswer{agent::DnsStatus::kServerFailure, {}, "SERVFAIL"});
  const std::vector<SlotRow> slots = {{"todo_db_2", false, 0}};
  j.janitor->review(slots, t0);
  j.janitor->review(slots, t0 + 1h);
  EXPECT_TRUE(j.dropped().empty()) << "SERVFAIL never counts as gone";
  // NXDOMAIN seen once, then silence for longer than the delay: the clock started at the
  // NXDOMAIN and silence does not reset it.
  j.resolver.set_answer(kPod2, agent::DnsAnswer{agent::DnsStatus::kNotFound, {}, ""});
  j.janitor->review(slots, t0 + 2h);
  j.resolver.set_answer(kPod2, agent::DnsAnswer{agent::DnsStatus::kTimeout, {}, ""});
  j.janitor->review(slots, t0 + 2h + 11min);
  EXPECT_TRUE(j.dropped().empty()) << "dropped only on an NXDOMAIN answer";
  j.resolver.set_answer(kPod2, agent::DnsAnswer{agent::DnsStatus::kNotFound, {}, ""});
  j.janitor->review(slots, t0 + 2h + 12min);
  EXPECT_EQ(j.dropped(), std::vector<std::string>{"todo_db_2"});
}

TEST(SlotJanitor, LeavesSlotsThatAreNotThisSetsReplicas) {
  Janitor j;
  const std::vector<SlotRow> slots = {{"todo_db_0", false, 0},    // the primary's own name
                                      {"todo_db_01", false, 0},   // no pod is named so
                                      {"other_db_2", false, 0},   // another set
                                      {"logical_cdc", false, 0},  // someone's slot
                                      {"todo_db", false, 0}};
  j.janitor->review(slots, t0);
  j.janitor->review(slots, t0 + 1h);
  EXPECT_TRUE(j.dropped().empty());
  EXPECT_TRUE(j.resolver.queries.empty());
}

TEST(SlotJanitor, ZeroDelayNeverDrops) {
  SlotJanitorSettings s;
  s.set = "todo-db";
  s.drop_after = 0ms;
  fakes::FakeResolver resolver;
  fakes::FakeReplicationClient replication;
  SlotJanitor janitor(s, resolver, replication);
  janitor.review({{"todo_db_2", false, 0}}, t0);
  janitor.review({{"todo_db_2", false, 0}}, t0 + 24h);
  EXPECT_TRUE(replication.drop_slot_calls.empty());
}

TEST(SlotJanitor, AFailedDropIsTriedAgain) {
  Janitor j;
  j.replication.drop_slot_error = agent::PgError{"55006", "replication slot is active"};
  const std::vector<SlotRow> slots = {{"todo_db_2", false, 0}};
  j.janitor->review(slots, t0);
  j.janitor->review(slots, t0 + 10min);
  EXPECT_EQ(j.janitor->dropped(), 0u);
  j.replication.drop_slot_error.reset();
  j.janitor->review(slots, t0 + 10min + 2s);
  EXPECT_EQ(j.janitor->dropped(), 1u);
  EXPECT_EQ(j.dropped().size(), 2u);
}

}  // namespace
}  // namespace replagent::probes
