#include "agent/identity.hpp"

#include <gtest/gtest.h>

namespace replagent::agent {
namespace {

struct NameCase {
  const char* name;
  std::optional<PodIdentity> want;
};

TEST(ParsePodName, Table) {
  const NameCase cases[] = {
      {"todo-db-0", PodIdentity{"todo-db", 0}},
      {"todo-db-1", PodIdentity{"todo-db", 1}},
      {"a-b-c-12", PodIdentity{"a-b-c", 12}},
      {"x-2147483647", PodIdentity{"x", 2147483647}},
      {"db", std::nullopt},
      {"db-", std::nullopt},
      {"db-x", std::nullopt},
      {"db--1", std::nullopt},
      {"-1", std::nullopt},
      {"db-01", std::nullopt},
      {"db-1a", std::nullopt},
      {"db-2147483648", std::nullopt},
      {"db-99999999999999999999999", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(parse_pod_name(c.name), c.want) << "name: '" << c.name << "'";
  }
}

TEST(SlotName, OnlyLowercaseDigitsUnderscore) {
  EXPECT_EQ(slot_name_for("todo-db-1"), "todo_db_1");
  EXPECT_EQ(slot_name_for("Todo.DB-2"), "todo_db_2");
  EXPECT_EQ(slot_name_for(std::string(80, 'a')).size(), 63u);
}

TEST(PodDnsName, HeadlessServiceForm) {
  EXPECT_EQ(pod_dns_name({"todo-db", 0}, "todo-db", "default", "cluster.local"),
            "todo-db-0.todo-db.default.svc.cluster.local");
}

}  // namespace
}  // namespace replagent::agent
