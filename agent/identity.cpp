#include "agent/identity.hpp"

#include <fmt/format.h>

#include <cctype>
#include <charconv>

namespace replagent::agent {

std::optional<PodIdentity> parse_pod_name(std::string_view name) {
  const auto dash = name.rfind('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == name.size()) return std::nullopt;
  const std::string_view set = name.substr(0, dash);
  const std::string_view digits = name.substr(dash + 1);
  for (char c : digits) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  // StatefulSets never zero-pad ordinals; "db-01" is not a pod of set "db".
  if (digits.size() > 1 && digits.front() == '0') return std::nullopt;
  // "db--1": the set would end in '-', which no valid object name does.
  if (set.back() == '-') return std::nullopt;
  int ordinal = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), ordinal);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return std::nullopt;
  return PodIdentity{std::string(set), ordinal};
}

std::string slot_name_for(std::string_view pod_name) {
  std::string slot;
  slot.reserve(pod_name.size());
  for (char c : pod_name) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u))
      slot += static_cast<char>(std::tolower(u));
    else
      slot += '_';
  }
  // NAMEDATALEN-1: PostgreSQL truncates names silently; we would rather be explicit.
  if (slot.size() > 63) slot.resize(63);
  return slot;
}

std::string service_dns_name(std::string_view service, std::string_view ns,
                             std::string_view cluster_domain) {
  return fmt::format("{}.{}.svc.{}", service, ns, cluster_domain);
}

std::string pod_dns_name(const PodIdentity& pod, std::string_view service, std::string_view ns,
                         std::string_view cluster_domain) {
  return fmt::format("{}-{}.{}", pod.set, pod.ordinal,
                     service_dns_name(service, ns, cluster_domain));
}

}  // namespace replagent::agent
