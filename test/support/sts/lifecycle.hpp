// The pods of the local StatefulSet and its cluster DNS: what the kubelet and the StatefulSet
// controller do for one pod (create it, wait until Ready, stop it, delete it).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "test/support/pod_env.hpp"
#include "test/support/sts/set.hpp"

namespace replagent::test::sts {

// The cluster DNS: dnsmasq on DIR's DNS address, records from DIR/hosts.
void dns_up(const Set& set);
void dns_down(const Set& set);
// The headless Service publishes not-ready addresses: the record exists from pod creation.
void dns_add(const Set& set, int n);
void dns_remove(const Set& set, int n);
// The chart's Secret: one random password per key, created once.
void ensure_secrets(const Set& set);

// The environment the chart gives the pod's containers, plus what `set-env` added.
EnvList pod_env(const Set& set, int n);

// The pod's phase (DIR/pod-N.phase: Init, Running, Init:Error(rc), Error(postgres)); a pod
// exists while that file does.
bool pod_exists(const Set& set, int n);
std::string phase(const Set& set, int n);  // "-" when it has none
// The ordinals that have a phase file, highest first.
std::vector<int> existing_pods(const Set& set);
std::optional<pid_t> postmaster_pid(const Set& set, int n);
// The HTTP status of GET http://<pod>:<sidecar port><target> (0: no answer within 2 s) and its
// body.
std::pair<int, std::string> sidecar_get(const Set& set, int n, const std::string& target);

// Volume, DNS record, init container, postgres, sidecar; false when a step failed (its phase
// says which).
bool pod_create(const Set& set, int n);
// Until /readyz answers 200 or --ready-timeout has passed.
bool pod_wait_ready(const Set& set, int n);
// Stops the containers. Graceful: the sidecar gets SIGTERM, postgres a fast shutdown (what the
// chart's preStop does) within `grace` seconds, then SIGKILL. Force: SIGKILL now.
void pod_stop(const Set& set, int n, bool force, int grace);
// Stops the pod, removes its DNS record and its phase.
void pod_delete(const Set& set, int n, bool force, int grace);
// Everything inside the volume, the volume itself kept (a new, empty PVC).
void empty_volume(const Set& set, int n);

}  // namespace replagent::test::sts
