"""One pod on the node, as the kubelet runs it (only what the chart uses; anything else in a
pod spec raises NotEmulated).

Behaviour followed (kubernetes.io "Pod Lifecycle", "Init Containers", "Configure Liveness,
Readiness and Startup Probes", "Container Lifecycle Hooks", "Expose Pod Information to
Containers", "Configure a Security Context"):
- init containers run one at a time, in order, each to success; a failed one is restarted
  (restartPolicy Always/OnFailure) after a back-off of 10 s doubling to 300 s, or fails the pod
  (Never). Then every container starts. A container that exits is restarted by restartPolicy
  with the same back-off (reset after 10 minutes of running).
- env: service-link variables for every Service with a cluster IP that existed when the pod
  was created, unless enableServiceLinks is false; then envFrom, then env ($(VAR) expanded,
  fieldRef, secretKeyRef, configMapKeyRef).
- a command replaces the image's ENTRYPOINT and drops its CMD; args alone replace CMD.
- probes: exec (`podman exec`, killed at timeoutSeconds), httpGet (from the node, i.e. the
  cluster network, to the pod IP; a named port is looked up among the probed container's own
  ports only, else the probe fails) and tcpSocket, with initialDelaySeconds, periodSeconds,
  timeoutSeconds, successThreshold and failureThreshold. A container without a readiness probe
  is ready once running. Liveness failure kills the container (preStop, grace) and restarts it.
- deletion: the pod leaves the ready endpoints at once; preStop hooks run, then the stop
  signal (the image's STOPSIGNAL), SIGKILL when terminationGracePeriodSeconds (counting the
  hook) is over. `force` is `kubectl delete --force --grace-period=0`: the API object is gone at
  once, so the containers are killed without a grace period.
- termination message: the file at terminationMessagePath (default /dev/termination-log),
  or with FallbackToLogsOnError the last 80 lines of a failed container's log.
"""

import os
import re
import shutil
import threading
import time

from . import podman as pm
from .container import Container, service_link_env
from .errors import NotEmulated
from .probes import Probe
from .volumes import PodVolumes

POD_FIELDS = {"restartPolicy", "containers", "initContainers", "volumes", "securityContext",
              "terminationGracePeriodSeconds", "enableServiceLinks", "automountServiceAccountToken",
              "affinity", "nodeSelector", "tolerations", "imagePullSecrets", "priorityClassName",
              "serviceAccountName", "hostname", "subdomain", "topologySpreadConstraints"}


class Pod:
    def __init__(self, cluster, name, namespace, labels, annotations, spec, claim_dir):
        unknown = set(spec) - POD_FIELDS
        if unknown:
            raise NotEmulated(f"pod field(s) {sorted(unknown)} in {name}")
        if spec.get("automountServiceAccountToken", True) is not False:
            cluster.notes.add("service-account token mount is not emulated (no API server)")
        self.cluster = cluster
        self.name = name
        self.namespace = namespace
        self.labels = dict(labels)
        self.annotations = dict(annotations or {})
        self.spec = spec
        self.uid = f"{name}-{time.monotonic_ns()}"
        self.hostname = spec.get("hostname", name)
        self.dns_search = [f"{namespace}.svc.{cluster.domain}", f"svc.{cluster.domain}", cluster.domain]
        self.restart_policy = spec.get("restartPolicy", "Always")
        self.dir = os.path.join(cluster.workdir, "pods", self.uid)
        self.claim_dir = claim_dir
        self.netns = self.ip = None
        self.volumes = None
        self.phase = "Pending"
        self.error = None
        self.init_done = False
        self.deletion = None          # (grace, force) once deletion was requested
        self.gone = threading.Event()
        self.on_gone = []             # callables run once the pod's containers are all gone
        self.service_links = service_link_env(cluster.services_for_links(namespace))
        self.init_containers = [Container(self, c, True) for c in spec.get("initContainers") or []]
        self.containers = [Container(self, c, False) for c in spec["containers"]]
        self.probes = []
        self.thread = threading.Thread(target=self._run, daemon=True, name="pod-" + name)

    # -- status -----------------------------------------------------------------------------
    def event(self, text):
        self.cluster.event(f"{time.strftime('%H:%M:%S')} {self.name}: {text}")

    @property
    def terminating(self):
        return self.deletion is not None

    @property
    def ready(self):
        return (self.phase == "Running" and not self.terminating and self.init_done
                and all(c.ready for c in self.containers))

    @property
    def has_ip(self):
        return self.ip is not None and not self.gone.is_set()

    def restarts(self, container=None):
        cs = self.init_containers + self.containers
        return sum(c.restarts for c in cs if container in (None, c.name))

    def container(self, name):
        for c in self.init_containers + self.containers:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no container {name}")

    def field(self, path):
        m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
        if m:
            return (self.labels if m.group(1) == "labels" else self.annotations).get(m.group(2), "")
        values = {"metadata.name": self.name, "metadata.namespace": self.namespace,
                  "metadata.uid": self.uid, "status.podIP": self.ip or "", "spec.nodeName": "node-0",
                  "spec.serviceAccountName": self.spec.get("serviceAccountName", "default"),
                  "status.hostIP": "10.96.0.1"}
        if path not in values:
            raise NotEmulated(f"fieldRef {path}")
        return values[path]

    # -- life -------------------------------------------------------------------------------
    def start(self):
        self.thread.start()

    def delete(self, grace=None, force=False):
        if self.deletion is None:
            if grace is None:
                grace = self.spec.get("terminationGracePeriodSeconds", 30)
            self.deletion = (0 if force else grace, force)
            self.event(f"deleting (grace {self.deletion[0]} s{', force' if force else ''})")
            self.cluster.refresh_dns()

    def _sleep(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.deletion is not None:
                return False
            time.sleep(max(0.0, min(0.2, end - time.monotonic())))
        return self.deletion is None

    def _run(self):
        try:
            self._setup()
            if self._run_init():
                self._run_containers()
        except Exception as e:  # noqa: BLE001 - any failure is the pod's status
            self.error = f"{type(e).__name__}: {e}"
            self.event("error: " + self.error)
            if self.phase not in ("Succeeded", "Failed"):
                self.phase = "Failed"
        finally:
            self._teardown()

    def _setup(self):
        os.makedirs(self.dir)
        self.volumes = PodVolumes(self.cluster, self.spec, os.path.join(self.dir, "volumes"),
                                  self.claim_dir, self.cluster.notes, pod=self)
        self.netns, self.ip = self.cluster.net.add_pod(self.uid)
        self.event(f"scheduled, IP {self.ip}")
        self.cluster.refresh_dns()

    def _run_init(self):
        for c in self.init_containers:
            while True:
                if self.deletion is not None:
                    return False
                if not self._sleep(max(0.0, c.next_start - time.monotonic())):
                    return False
                c.start()
                while c.running():
                    if self.deletion is not None:
                        c.stop(self.deletion[0])
                    time.sleep(0.2)
                c.reap()
                if self.deletion is not None:
                    return False
                if c.last_exit[0] == 0:
                    break
                if self.restart_policy == "Never":
                    self.phase = "Failed"
                    return False
                c.restarts += 1
        self.init_done = True
        self.phase = "Running"
        return True

    def _run_containers(self):
        for c in self.containers:
            c.start()
            for kind in ("readiness", "liveness"):
                spec = c.spec.get(kind + "Probe")
                if spec:
                    p = Probe(c, kind, spec)
                    self.probes.append(p)
                    p.start()
        while self.deletion is None:
            for c in self.containers:
                if "readinessProbe" not in c.spec:   # ready once running
                    c.ready = c.running()
                if c.kill_requested and c.running():
                    grace = self.spec.get("terminationGracePeriodSeconds", 30)
                    threading.Thread(target=c.stop, args=(grace,), daemon=True).start()
                    c.kill_requested = False
                if c.running() or c.stopping:
                    continue
                if c.proc is not None:
                    c.reap()
                code = c.last_exit[0] if c.last_exit else 0
                if self.restart_policy == "Never" or (self.restart_policy == "OnFailure" and code == 0):
                    continue
                if time.monotonic() >= c.next_start:
                    c.restarts += 1
                    c.start()
            if self.restart_policy != "Always" and not any(c.running() or c.proc for c in self.containers):
                codes = [c.last_exit[0] if c.last_exit else 1 for c in self.containers]
                if all(x == 0 for x in codes):
                    self.phase = "Succeeded"
                    return
                if self.restart_policy == "Never":
                    self.phase = "Failed"
                    return
            time.sleep(0.2)
        grace, _ = self.deletion
        stoppers = [threading.Thread(target=c.stop, args=(grace,)) for c in self.containers if c.running()]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()
        for c in self.containers:
            if c.proc is not None:
                c.proc.wait()
                c.reap()

    def _teardown(self):
        for p in self.probes:
            p.halt.set()
        for c in self.init_containers + self.containers:
            if c.running():
                pm.podman("rm", "-f", "-t", "0", c.cname, check=False)
                c.proc.wait(60)
                c.reap()
        if self.volumes:
            self.volumes.release()
        self.cluster.net.remove_pod(self.uid)
        self.ip = None
        for fn in self.on_gone:
            fn()
        self.gone.set()
        self.event(f"gone ({self.phase})")
        self.cluster.refresh_dns()
        if not self.cluster.keep_pod_dirs:
            shutil.rmtree(os.path.join(self.dir, "volumes"), ignore_errors=True)

    def wait_gone(self, timeout):
        if not self.gone.wait(timeout):
            raise TimeoutError(f"pod {self.name} still terminating after {timeout} s")
