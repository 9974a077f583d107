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
  return fmt::format("{}-{}.{}", pod.set, pod.ordinal, service_dns_name(service, ns, cluster_domain));
}

namespace {

bool label_name(const std::string& n) {
  if (n.empty() || n.size() > 63) return false;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(n.front()) || !alnum(n.back())) return false;
  for (char c : n)
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

bool dns_subdomain(const std::string& p) {
  if (p.empty() || p.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    const auto dot = p.find('.', start);
    const std::string label = p.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label)
      if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-'))
        return false;
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}
}  // namespace

bool is_label_key(const std::string& key) {
  const auto slash = key.find('/');
  if (slash == std::string::npos) return label_name(key);
  return dns_subdomain(key.substr(0, slash)) && label_name(key.substr(slash + 1));
}

}  // namespace replagent::agent
