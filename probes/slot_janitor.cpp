#include "probes/slot_janitor.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent/identity.hpp"
#include "agent/units.hpp"

namespace replagent::probes {

SlotJanitor::SlotJanitor(SlotJanitorSettings settings, agent::Resolver& resolver,
                         agent::ReplicationClient& replication)
    : settings_(std::move(settings)), resolver_(resolver), replication_(replication) {}

std::string SlotJanitor::pod_of(const std::string& slot) const {
  const std::string prefix = agent::slot_name_for(settings_.set) + "_";
  if (slot.rfind(prefix, 0) != 0) return "";
  const std::string pod = settings_.set + "-" + slot.substr(prefix.size());
  const auto id = agent::parse_pod_name(pod);
  if (!id || id->set != settings_.set || id->ordinal == settings_.primary_ordinal) return "";
  // The round trip rules out names that only look alike ("todo_db_01").
  return agent::slot_name_for(pod) == slot ? pod : "";
}

void SlotJanitor::review(const std::vector<SlotRow>& slots,
                         std::chrono::steady_clock::time_point now) {
  if (settings_.drop_after.count() <= 0) return;
  std::map<std::string, std::chrono::steady_clock::time_point> still_gone;
  for (const auto& slot : slots) {
    if (slot.active) continue;  // a streaming replica holds it
    const std::string pod = pod_of(slot.name);
    if (pod.empty()) continue;  // not ours to judge
    const auto id = agent::parse_pod_name(pod);
    const std::string name =
        agent::pod_dns_name(*id, settings_.service, settings_.ns, settings_.cluster_domain);
    const auto answer = resolver_.resolve_ipv4(name);
    if (answer.status == agent::DnsStatus::kOk) continue;  // the pod exists: its slot stays
    auto since = gone_since_.find(slot.name);
    if (answer.status != agent::DnsStatus::kNotFound) {
      // No answer is no evidence: keep what we knew, count nothing new.
      if (since != gone_since_.end()) still_gone.insert(*since);
      continue;
    }
    const auto first = since == gone_since_.end() ? now : since->second;
    if (since == gone_since_.end()) {
      spdlog::info(
          "sidecar: {} is gone from {} (NXDOMAIN) and its slot {} is inactive: "
          "dropping the slot after sidecar.slot_drop_after ({}) unless it returns",
          pod, name, slot.name, agent::format_duration(settings_.drop_after));
    }
    if (now - first < settings_.drop_after) {
      still_gone.emplace(slot.name, first);
      continue;
    }
    if (auto e = replication_.drop_physical_slot(settings_.replication, slot.name)) {
      spdlog::warn("sidecar: cannot drop the slot {} of {} (gone for {}): {}", slot.name, pod,
                   agent::format_duration(
                       std::chrono::duration_cast<std::chrono::milliseconds>(now - first)),
                   e->message);
      still_gone.emplace(slot.name, first);  // try again next poll
      continue;
    }
    ++dropped_;
    spdlog::warn(
        "sidecar: dropped the replication slot {} of {}, gone from {} for {} (it held "
        "{} of WAL); {} re-clones if it returns",
        slot.name, pod, name,
        agent::format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(now - first)),
        slot.retained_bytes ? agent::format_size(*slot.retained_bytes) : "no WAL", pod);
  }
  gone_since_ = std::move(still_gone);
}

}  // namespace replagent::probes
