#pragma once

// The sidecar labels its own pod with its server's role (sidecar.role_label, e.g.
// replagent.io/role: primary | replica), so Services can select by role: the chart's `-ro`
// Service selects the replicas only (as CloudNativePG's -ro), `-r` every ready pod, `-rw`
// the primary. A Service selector matches labels only, and a StatefulSet gives every pod the
// same template labels, so the role has to be set on each pod by something that knows it: the
// sidecar, which polls the server anyway.
//
// A new pod starts without the label (its template has none), so it joins `-ro` only once its
// sidecar has seen it streaming as a replica; a promoted replica is relabelled primary at its
// sidecar's next poll and leaves `-ro`. The patch goes to the Kubernetes API with the pod's own
// service-account token (the chart's Role allows `patch` on the set's pod names only); a
// failure is logged once per distinct problem and retried with backoff, the poll goes on.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "agent/backoff.hpp"
#include "agent/clock.hpp"
#include "agent/config.hpp"
#include "agent/dns.hpp"
#include "agent/kube_api.hpp"

namespace replagent::roles {

// Sets `labels` on this pod; the answer as the API gave it.
using LabelPatcher = std::function<agent::KubeAnswer(const std::map<std::string, std::string>&)>;

// The real patcher for config's pod, namespace and API (sidecar.kubernetes_*); a host name
// (not KUBERNETES_SERVICE_HOST's address) is resolved with `resolver` at each call.
LabelPatcher real_label_patcher(const agent::Config& config, agent::Resolver& resolver);

class RoleLabel {
 public:
  RoleLabel(std::string label_key, agent::Clock& clock, LabelPatcher patch);

  // Called after each poll that knew the role ("primary" or "replica"). Patches when the role
  // differs from the one last set (the first poll included), unless backing off.
  void review(const std::string& role);

  // The role the pod is labelled with, as far as this sidecar set it; "" before the first.
  const std::string& labelled() const { return labelled_; }
  std::uint64_t patches() const { return patches_; }

 private:
  std::string key_;
  agent::Clock& clock_;
  LabelPatcher patch_;
  std::string labelled_;
  std::uint64_t patches_ = 0;
  std::string last_problem_;
  std::chrono::steady_clock::time_point retry_at_{};
  agent::Backoff backoff_{std::chrono::seconds(2), std::chrono::seconds(60)};
};

}  // namespace replagent::roles
