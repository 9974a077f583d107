#include "roles/role_label.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace replagent::roles {

LabelPatcher real_label_patcher(const agent::Config& c, agent::Resolver& resolver) {
  agent::KubeApi api;
  api.host = c.sidecar.kubernetes_host;
  api.port = c.sidecar.kubernetes_port;
  api.token_file = c.sidecar.kubernetes_token_file;
  api.ca_file = c.sidecar.kubernetes_ca_file;
  const std::string ns = c.pod.namespace_;
  const std::string pod = c.pod.name;
  // KUBERNETES_SERVICE_HOST is an address; a name (sidecar.kubernetes_host) is resolved at
  // each call.
  const bool by_name = !agent::is_ip_literal(api.host);
  return [api, ns, pod, by_name,
          &resolver](const std::map<std::string, std::string>& labels) mutable {
    api.address = api.host;
    if (by_name) {
      const agent::DnsAnswer a = resolver.resolve_ipv4(api.host);
      if (a.status != agent::DnsStatus::kOk || a.addresses.empty()) {
        agent::KubeAnswer out;
        out.error = fmt::format("{} does not resolve ({})", api.host, agent::to_string(a.status));
        return out;
      }
      api.address = a.addresses.front();
    }
    return agent::patch_pod_labels(api, ns, pod, labels);
  };
}

RoleLabel::RoleLabel(std::string label_key, agent::Clock& clock, LabelPatcher patch)
    : key_(std::move(label_key)), clock_(clock), patch_(std::move(patch)) {}

void RoleLabel::review(const std::string& role) {
  if (key_.empty() || role.empty() || role == labelled_ || clock_.now() < retry_at_) return;
  const agent::KubeAnswer a = patch_({{key_, role}});
  if (!a.ok()) {
    retry_at_ = clock_.now() + backoff_.next();
    std::string problem = a.describe();
    if (a.status == 401 || a.status == 403)
      problem +=
          " (the pod's service account needs `patch` on its own pod: the chart's Role "
          "with rbac.create)";
    if (problem != last_problem_)
      spdlog::warn("role label: cannot set {}={} on this pod: {}; retrying", key_, role, problem);
    last_problem_ = problem;
    return;
  }
  spdlog::info("role label: this pod is now labelled {}={}{}", key_, role,
               labelled_.empty() ? "" : " (was " + labelled_ + ")");
  labelled_ = role;
  ++patches_;
  last_problem_.clear();
  backoff_.reset();
}

}  // namespace replagent::roles
