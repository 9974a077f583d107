"""The StatefulSet controller, as documented (kubernetes.io "StatefulSets": Deployment and
Scaling Guarantees, Pod Management Policies, Rolling Updates, PersistentVolumeClaim retention)
and as pkg/controller/statefulset/stateful_set_control.go does it:

- pods are `<set>-<ordinal>`, each with one claim per volumeClaimTemplate named
  `<template>-<set>-<ordinal>`, created with the pod and kept when the pod goes (unless
  persistentVolumeClaimRetentionPolicy.whenScaled is Delete and the ordinal was scaled away);
- OrderedReady creates ordinal n only once 0..n-1 are Running and Ready, and scales down one
  pod at a time from the highest ordinal, only while every other pod is Running and Ready;
  Parallel creates and deletes without waiting;
- a pod that is gone is recreated with the same name (and its old claim);
- RollingUpdate walks from the highest ordinal down (not below `partition`): it deletes a pod
  whose revision is old, then waits until the recreated pod is Running and Ready before the
  next one; an unhealthy pod at the new revision stops the walk.
"""

import copy
import hashlib
import json
import threading
import time

from .errors import NotEmulated

SPEC_FIELDS = {"serviceName", "replicas", "podManagementPolicy", "updateStrategy", "selector",
               "template", "volumeClaimTemplates", "persistentVolumeClaimRetentionPolicy",
               "revisionHistoryLimit", "minReadySeconds"}


def template_revision(template):
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


class StatefulSet:
    def __init__(self, cluster, obj):
        self.cluster = cluster
        self.name = obj["metadata"]["name"]
        self.namespace = obj["metadata"].get("namespace", "default")
        self.pods = {}             # ordinal -> Pod (including terminating ones)
        self.lock = threading.RLock()
        self.update(obj)

    def update(self, obj):
        spec = obj["spec"]
        unknown = set(spec) - SPEC_FIELDS
        if unknown:
            raise NotEmulated(f"StatefulSet field(s) {sorted(unknown)}")
        if spec.get("minReadySeconds"):
            raise NotEmulated("StatefulSet minReadySeconds")
        strategy = spec.get("updateStrategy") or {"type": "RollingUpdate"}
        if strategy.get("type", "RollingUpdate") not in ("RollingUpdate", "OnDelete"):
            raise NotEmulated(f"updateStrategy {strategy}")
        if (strategy.get("rollingUpdate") or {}).get("maxUnavailable") is not None:
            raise NotEmulated("rollingUpdate.maxUnavailable (alpha)")
        sel = spec["selector"]["matchLabels"]
        labels = spec["template"]["metadata"].get("labels") or {}
        if any(labels.get(k) != v for k, v in sel.items()):
            raise ValueError(f"StatefulSet {self.name}: selector does not match template labels")
        with self.lock:
            self.obj = copy.deepcopy(obj)
            self.spec = spec
            self.replicas = spec.get("replicas", 1)
            self.policy = spec.get("podManagementPolicy", "OrderedReady")
            if self.policy not in ("OrderedReady", "Parallel"):
                raise ValueError(f"podManagementPolicy {self.policy}")
            self.strategy = strategy
            self.revision = template_revision(spec["template"])
            self.retention = spec.get("persistentVolumeClaimRetentionPolicy") or {}

    def scale(self, replicas):
        with self.lock:
            self.replicas = replicas
            self.spec["replicas"] = replicas

    # -- helpers ----------------------------------------------------------------------------
    def claim_name(self, template, ordinal):
        return f"{template['metadata']['name']}-{self.name}-{ordinal}"

    def _healthy(self, pod):
        return pod.ready and not pod.terminating

    def _create(self, ordinal):
        tmpl = self.spec["template"]
        name = f"{self.name}-{ordinal}"
        claims = {}
        for t in self.spec.get("volumeClaimTemplates") or []:
            claim = self.claim_name(t, ordinal)
            self.cluster.ensure_claim(claim, t)
            claims[t["metadata"]["name"]] = claim
        spec = copy.deepcopy(tmpl["spec"])
        vols = spec.setdefault("volumes", [])
        for tname, claim in claims.items():
            vols.append({"name": tname, "persistentVolumeClaim": {"claimName": claim}})
        labels = dict(tmpl["metadata"].get("labels") or {})
        labels["statefulset.kubernetes.io/pod-name"] = name
        labels["apps.kubernetes.io/pod-index"] = str(ordinal)
        labels["controller-revision-hash"] = f"{self.name}-{self.revision}"
        spec.setdefault("hostname", name)
        spec.setdefault("subdomain", self.spec["serviceName"])
        pod = self.cluster.new_pod(name, self.namespace, labels,
                                   tmpl["metadata"].get("annotations"), spec)
        pod.revision = self.revision
        self.pods[ordinal] = pod
        pod.start()

    # -- the control loop -------------------------------------------------------------------
    def reconcile(self):
        with self.lock:
            for o, p in list(self.pods.items()):
                if p.gone.is_set():
                    del self.pods[o]
                    if o >= self.replicas and self.retention.get("whenScaled") == "Delete":
                        for t in self.spec.get("volumeClaimTemplates") or []:
                            self.cluster.delete_claim(self.claim_name(t, o))
            ordered = self.policy == "OrderedReady"
            # create
            for o in range(self.replicas):
                if o in self.pods:
                    if ordered and not self._healthy(self.pods[o]):
                        break
                    continue
                self._create(o)
                if ordered:
                    break
            # scale down: highest first
            excess = sorted((o for o in self.pods if o >= self.replicas), reverse=True)
            if excess:
                if ordered:
                    others = [p for o, p in self.pods.items() if o < self.replicas]
                    if any(p.terminating for p in self.pods.values()):
                        return
                    if all(self._healthy(p) for p in others):
                        self.pods[excess[0]].delete()
                else:
                    for o in excess:
                        self.pods[o].delete()
                return
            # rolling update
            if self.strategy.get("type", "RollingUpdate") != "RollingUpdate":
                return
            if len(self.pods) < self.replicas:
                return
            partition = (self.strategy.get("rollingUpdate") or {}).get("partition", 0)
            for o in range(self.replicas - 1, partition - 1, -1):
                p = self.pods[o]
                if p.revision != self.revision and not p.terminating:
                    p.event(f"rolling update to revision {self.revision}")
                    p.delete()
                    return
                if not self._healthy(p):
                    return

    def settled(self):
        """Every ordinal below replicas exists, is at the current revision and Ready, and
        nothing is left above (what `kubectl rollout status` waits for)."""
        with self.lock:
            return (sorted(self.pods) == list(range(self.replicas))
                    and all(self._healthy(p) and p.revision == self.revision for p in self.pods.values()))


def wait_until(predicate, timeout, what, interval=0.5):
    end = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
