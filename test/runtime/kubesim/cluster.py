"""A one-node cluster for the chart's rendered manifests: objects in, pods out.

`Cluster.apply(yaml)` plays `helm install`/`helm upgrade` (create or replace each object); a
control loop plays the StatefulSet controller, the endpoints controller and cluster DNS; pods
are run by kubesim.kubelet. Services: a Service's name resolves in the cluster DNS to the
addresses of its ready endpoints (headless: every pod with an address when
publishNotReadyAddresses is set, plus `<pod>.<service>` records); there is no kube-proxy, so
clients (the tests) reach a Service by that name or `service_endpoints()` and the target port.
Kinds the pods do not depend on (PodDisruptionBudget, PodMonitor, PrometheusRule, dashboards'
ConfigMaps) are accepted and recorded; any other kind raises NotEmulated. The pods' calls to the
API (a sidecar labelling its pod) go to kubesim/apiserver.py, which authorises them with the
applied ServiceAccounts, Roles and RoleBindings.
"""

import os
import shutil
import subprocess
import threading
import time

import yaml

from . import podman as pm
from .apiserver import ApiServer
from .errors import NotEmulated
from .kubelet import Pod
from .net import BRIDGE_IP, Network, sweep_stale
from .statefulset import StatefulSet, wait_until
from .volumes import new_persistent_volume

RUN_PREFIX = "kubesim"
STORED_ONLY = {"PodDisruptionBudget": "evictions are not emulated (no drain)",
               "PodMonitor": "a Prometheus-operator object", "PrometheusRule": "a Prometheus-operator object",
               "ServiceMonitor": "a Prometheus-operator object"}


class JobResult:
    def __init__(self, pods):
        self.pods = pods
        self.succeeded = bool(pods) and pods[-1].phase == "Succeeded"

    def termination_messages(self, container):
        return [p.container(container).last_exit[1] for p in self.pods if p.container(container).last_exit]

    def log(self, container):
        c = self.pods[-1].container(container)
        return open(c.log_path, errors="replace").read() if c.log_path else ""


class Cluster:
    def __init__(self, workdir=None, domain="cluster.local", keep_pod_dirs=False):
        self.run_id = f"{RUN_PREFIX}{os.getpid()}"
        cleanup_stale()
        base = workdir or os.environ.get("REPLAGENT_RUNTIME_WORKDIR", "/var/tmp/replagent-runtime")
        self.workdir = os.path.join(base, self.run_id)
        shutil.rmtree(self.workdir, ignore_errors=True)
        os.makedirs(self.workdir, mode=0o755)
        os.chmod(base, 0o755)
        self.domain = domain
        self.keep_pod_dirs = keep_pod_dirs
        self.notes = set()
        self.objects = {}              # (kind, name) -> object
        self.sets = {}
        self.service_ips = {}
        self._pods = []                # every pod created, gone ones too (their logs)
        self._events = []
        self._events_file = open(os.path.join(self.workdir, "events.log"), "a", buffering=1)
        self.lock = threading.RLock()
        self._dns_lock = threading.Lock()
        self._last_records = None
        self.net = Network(self.run_id, self.workdir, domain)
        self.net.up()
        # The API server, for the pods' own calls (kubesim/apiserver.py), at the node's address
        # as the `kubernetes` Service; its CA in every namespace's kube-root-ca.crt ConfigMap.
        self.api = ApiServer(self, BRIDGE_IP, self.workdir)
        self.api.start()
        self.objects[("ConfigMap", "kube-root-ca.crt")] = {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kube-root-ca.crt", "namespace": "default"},
            "data": {"ca.crt": self.api.ca_pem}}
        self._stop = threading.Event()
        # The kubelet's refresh of mounted Secret/ConfigMap files in running pods: on a cluster
        # its sync period plus the cache's TTL, up to about a minute after the change; 0 here
        # unless a test needs the lag (a pod created meanwhile sees the new files at once).
        self.secret_sync_delay = 0.0
        self._timers = []
        self._loop = threading.Thread(target=self._control_loop, daemon=True, name="controllers")
        self._loop.start()

    # -- API objects ------------------------------------------------------------------------
    def apply(self, manifests, namespace="default"):
        docs = [d for d in yaml.safe_load_all(manifests) if d]
        with self.lock:
            for d in docs:
                kind, name = d["kind"], d["metadata"]["name"]
                d["metadata"].setdefault("namespace", namespace)
                if kind in ("Secret", "ConfigMap", "Service", "PersistentVolumeClaim"):
                    if kind == "Service" and d["spec"].get("clusterIP") != "None":
                        ip = self.service_ips.setdefault(name, f"10.96.255.{10 + len(self.service_ips)}")
                        d["spec"]["clusterIP"] = ip
                    if kind == "Service" and d["spec"].get("type", "ClusterIP") != "ClusterIP":
                        raise NotEmulated(f"Service type {d['spec']['type']}")
                    if kind == "PersistentVolumeClaim":
                        self.ensure_claim(name, d)
                    self.objects[(kind, name)] = d
                elif kind == "StatefulSet":
                    if name in self.sets:
                        self.sets[name].update(d)
                    else:
                        self.sets[name] = StatefulSet(self, d)
                    self.objects[(kind, name)] = d
                elif kind in ("CronJob", "ServiceAccount", "Role", "RoleBinding"):
                    # Roles and bindings: the API server authorises the pods' calls with them.
                    self.objects[(kind, name)] = d
                elif kind == "NetworkPolicy":
                    raise NotEmulated("NetworkPolicy (no network plugin enforces it here)")
                elif kind in STORED_ONLY:
                    self.notes.add(f"{kind} {name} stored only: {STORED_ONLY[kind]}")
                    self.objects[(kind, name)] = d
                else:
                    raise NotEmulated(f"kind {kind} ({name})")
            self._refresh_secret_volumes()
        self.refresh_dns()
        self.event(f"applied {len(docs)} objects")

    def get_object(self, kind, name):
        return self.objects.get((kind, name))

    def _refresh_secret_volumes(self):
        # The kubelet updates projected Secret/ConfigMap files of running pods (within its sync
        # period; here after secret_sync_delay). subPath mounts are never updated, as on a cluster.
        pods = [p for p in self.pods() if p.volumes is not None]
        if self.secret_sync_delay <= 0:
            self._refresh_now(pods)
            return
        self.event(f"mounted Secrets/ConfigMaps of running pods refresh in {self.secret_sync_delay:.0f} s")
        t = threading.Timer(self.secret_sync_delay, self._refresh_now, args=(pods,))
        t.daemon = True
        self._timers.append(t)
        t.start()

    def _refresh_now(self, pods):
        for p in pods:
            if not p.gone.is_set() and p.volumes is not None:
                try:
                    p.volumes.refresh()
                    self.event(f"{p.name}: mounted Secrets/ConfigMaps refreshed")
                except OSError as e:
                    self.event(f"{p.name}: refresh of mounted files failed: {e}")

    def services_for_links(self, namespace):
        out = []
        for (kind, name), obj in self.objects.items():
            if kind == "Service" and obj["metadata"]["namespace"] == namespace:
                out.append({"name": name, "clusterIP": obj["spec"].get("clusterIP"),
                            "ports": obj["spec"].get("ports") or []})
        return out

    # -- claims -----------------------------------------------------------------------------
    def claim_path(self, name):
        return os.path.join(self.workdir, "pv", name)

    def ensure_claim(self, name, template):
        path = self.claim_path(name)
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            size = (((template.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
            new_persistent_volume(path, size)
            self.event(f"provisioned volume for claim {name} ({size or 'unsized'})")
        return path

    def delete_claim(self, name):
        path = self.claim_path(name)
        subprocess.run(["umount", "-l", path], check=False, capture_output=True)
        shutil.rmtree(path, ignore_errors=True)
        self.event(f"deleted claim {name}")

    def claims(self):
        d = os.path.join(self.workdir, "pv")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def _claim_dir(self, name):
        path = self.claim_path(name)
        if not os.path.exists(path):
            raise RuntimeError(f"claim {name} does not exist (the pod would stay Pending)")
        return path

    # -- pods -------------------------------------------------------------------------------
    def new_pod(self, name, namespace, labels, annotations, spec):
        pod = Pod(self, name, namespace, labels, annotations, spec, self._claim_dir)
        with self.lock:
            self._pods.append(pod)
        return pod

    def all_pods(self):
        """Every pod this cluster ran, gone ones included (for their logs)."""
        return list(self._pods)

    def pods(self):
        return [p for p in self._pods if not p.gone.is_set()]

    def pod(self, name):
        live = [p for p in self.pods() if p.name == name]
        if not live:
            raise KeyError(f"no pod {name}")
        return live[-1]

    def delete_pod(self, name, force=False, grace=None, with_claims=()):
        """`kubectl delete pod`; with_claims: `kubectl delete pvc` of those claims issued with
        it (pvc-protection holds them until the pod is gone, then they go before the
        controller recreates the pod, which then gets new, empty volumes)."""
        pod = self.pod(name)
        for claim in with_claims:
            pod.on_gone.append(lambda claim=claim: self.delete_claim(claim))
        pod.delete(grace, force)
        return pod

    def scale(self, name, replicas):
        self.sets[name].scale(replicas)
        self.event(f"scaled {name} to {replicas}")

    # -- jobs -------------------------------------------------------------------------------
    def run_cronjob(self, name, timeout=600):
        """`kubectl create job --from=cronjob/<name>`: one Job, run to the end."""
        cj = self.objects[("CronJob", name)]
        job = cj["spec"]["jobTemplate"]
        jspec = job["spec"]
        for k in jspec:
            if k not in ("backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished", "template"):
                raise NotEmulated(f"Job field {k}")
        tmpl = jspec["template"]
        backoff = jspec.get("backoffLimit", 6)
        deadline = time.monotonic() + min(timeout, jspec.get("activeDeadlineSeconds", timeout))
        job_name = f"{name}-manual-{int(time.time()) % 100000}"
        pods = []
        for attempt in range(backoff + 1):
            labels = dict(tmpl["metadata"].get("labels") or {})
            labels["job-name"] = job_name
            pod = self.new_pod(f"{job_name}-{attempt}", cj["metadata"]["namespace"], labels,
                               tmpl["metadata"].get("annotations"), dict(tmpl["spec"]))
            pods.append(pod)
            pod.start()
            if not pod.gone.wait(max(1, deadline - time.monotonic())):
                pod.delete()
                pod.wait_gone(300)
                break
            if pod.phase == "Succeeded":
                break
        return JobResult(pods)

    # -- services and DNS -------------------------------------------------------------------
    def _endpoint_pods(self, spec):
        """The pods behind a Service: selected, with an address, and ready unless the Service
        publishes not-ready addresses."""
        selector = spec.get("selector") or {}
        return [p for p in self.pods()
                if p.has_ip and all(p.labels.get(k) == v for k, v in selector.items())
                and (p.ready or spec.get("publishNotReadyAddresses"))]

    def service_endpoints(self, name):
        return sorted(p.ip for p in self._endpoint_pods(self.objects[("Service", name)]["spec"]))

    def refresh_dns(self):
        # Called from pod threads and the control loop: computing and writing under one lock
        # keeps a slower caller from writing an older view over a newer one.
        with self._dns_lock:
            records = {}
            with self.lock:
                services = [(n, o) for (k, n), o in self.objects.items() if k == "Service"]
            for name, svc in services:
                fq = f"{name}.{svc['metadata']['namespace']}.svc.{self.domain}"
                pods = self._endpoint_pods(svc["spec"])
                if pods:
                    records[fq] = sorted(p.ip for p in pods)
                if svc["spec"].get("clusterIP") == "None":
                    for p in pods:
                        if p.spec.get("subdomain") == name:
                            records[f"{p.spec.get('hostname', p.name)}.{fq}"] = [p.ip]
            if self._last_records != records:
                self._last_records = records
                self.net.write_hosts(records)

    # -- the control loop -------------------------------------------------------------------
    def _control_loop(self):
        while not self._stop.is_set():
            try:
                for s in list(self.sets.values()):
                    s.reconcile()
                self.refresh_dns()
            except Exception as e:  # noqa: BLE001 - shown in the events, test fails on its waits
                self.event(f"controller error: {type(e).__name__}: {e}")
            self._stop.wait(0.3)

    def wait(self, predicate, timeout, what):
        return wait_until(predicate, timeout, what)

    def wait_settled(self, name, timeout=300):
        self.wait(lambda: self.sets[name].settled(), timeout, f"StatefulSet {name} settled")

    # -- talking to the pods ----------------------------------------------------------------
    def exec(self, pod, container, argv, timeout=60, input=None):
        return self.pod(pod).container(container).exec(argv, timeout, input=input)

    def in_network(self, argv, timeout=60, input=None, env=None):
        """Runs a client program (psql, curl, ...) inside the cluster network."""
        return subprocess.run(self.net.command(argv), capture_output=True, text=True,
                              timeout=timeout, input=input, env=env)

    # -- events -----------------------------------------------------------------------------
    def event(self, line):
        self._events.append(line)
        self._events_file.write(line + "\n")

    def events(self, last=200):
        return "\n".join(self._events[-last:])

    # -- the end ----------------------------------------------------------------------------
    def close(self):
        self._stop.set()
        for t in self._timers:
            t.cancel()
        self._loop.join(10)
        for s in self.sets.values():
            with s.lock:
                s.replicas = 0
        for p in self.pods():
            p.delete(grace=5)
        for p in self.all_pods():
            try:
                p.wait_gone(120)
            except TimeoutError:
                pass
        pm.remove_labelled(self.run_id)
        self.api.stop()
        for claim in self.claims():
            subprocess.run(["umount", "-l", self.claim_path(claim)], check=False, capture_output=True)
        self.net.down()
        self._events_file.close()
        if not self.keep_pod_dirs:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def cleanup_stale():
    """What a killed run left: its containers, tmpfs mounts, dnsmasq and namespaces."""
    base = os.environ.get("REPLAGENT_RUNTIME_WORKDIR", "/var/tmp/replagent-runtime")
    if os.path.isdir(base):
        for run_id in os.listdir(base):
            pid = run_id[len(RUN_PREFIX):]
            if not run_id.startswith(RUN_PREFIX) or not pid.isdigit() or os.path.exists(f"/proc/{pid}"):
                continue
            pm.remove_labelled(run_id)
            pidfile = os.path.join(base, run_id, "dns", "dnsmasq.pid")
            try:
                dns_pid = int(open(pidfile).read())
                cmdline = open(f"/proc/{dns_pid}/cmdline").read().replace("\0", " ")
                if "dnsmasq" in cmdline and pidfile in cmdline:
                    os.kill(dns_pid, 15)
            except (OSError, ValueError):
                pass
            with open("/proc/mounts") as f:
                for line in f:
                    mnt = line.split()[1]
                    if mnt.startswith(os.path.join(base, run_id) + "/"):
                        subprocess.run(["umount", "-l", mnt], check=False)
            shutil.rmtree(os.path.join(base, run_id), ignore_errors=True)
    sweep_stale(RUN_PREFIX)
