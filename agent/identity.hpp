#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace replagent::agent {

// A StatefulSet pod is named <set>-<ordinal>; the set name may itself contain dashes.
struct PodIdentity {
  std::string set;  // "todo-db"
  int ordinal = 0;  // 1
  bool operator==(const PodIdentity&) const = default;
};

// "todo-db-1" -> {todo-db, 1}. nullopt when there is no "-<digits>" suffix, the set part is
// empty, the digits have a leading zero (Kubernetes never makes "db-01") or exceed int.
std::optional<PodIdentity> parse_pod_name(std::string_view name);

// "todo-db-1" -> "todo_db_1": physical slot names allow only [a-z0-9_], at most 63 chars.
std::string slot_name_for(std::string_view pod_name);

// <service>.<namespace>.svc.<domain>: a headless Service's own name, one A record per pod.
std::string service_dns_name(std::string_view service, std::string_view ns,
                             std::string_view cluster_domain);

// <set>-<ordinal>.<service>.<namespace>.svc.<domain>
std::string pod_dns_name(const PodIdentity& pod, std::string_view service, std::string_view ns,
                         std::string_view cluster_domain);

}  // namespace replagent::agent
