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

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time

from . import podman as pm
from .errors import NotEmulated
from .volumes import PodVolumes, secret_data, configmap_data

BACKOFF_START, BACKOFF_MAX, BACKOFF_RESET = 10.0, 300.0, 600.0

POD_FIELDS = {"restartPolicy", "containers", "initContainers", "volumes", "securityContext",
              "terminationGracePeriodSeconds", "enableServiceLinks", "automountServiceAccountToken",
              "affinity", "nodeSelector", "tolerations", "imagePullSecrets", "priorityClassName",
              "serviceAccountName", "hostname", "subdomain", "topologySpreadConstraints"}
CONTAINER_FIELDS = {"name", "image", "imagePullPolicy", "command", "args", "env", "envFrom",
                    "ports", "readinessProbe", "livenessProbe", "lifecycle", "securityContext",
                    "volumeMounts", "resources", "terminationMessagePolicy",
                    "terminationMessagePath", "workingDir"}


def expand(value, env):
    """The kubelet's $(VAR) expansion: $$ escapes, unknown references stay as written."""
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", sub, value)


def service_link_env(services):
    """docker-links-style variables the kubelet injects for each Service with a cluster IP."""
    env = {}
    for svc in services:
        ip = svc.get("clusterIP")
        if not ip or ip == "None":
            continue
        name = svc["name"].upper().replace("-", "_")
        ports = svc.get("ports") or []
        env[f"{name}_SERVICE_HOST"] = ip
        if ports:
            env[f"{name}_SERVICE_PORT"] = str(ports[0]["port"])
            first = ports[0]
            proto = first.get("protocol", "TCP")
            env[f"{name}_PORT"] = f"{proto.lower()}://{ip}:{first['port']}"
        for p in ports:
            proto = p.get("protocol", "TCP")
            if p.get("name"):
                env[f"{name}_SERVICE_PORT_{p['name'].upper().replace('-', '_')}"] = str(p["port"])
            base = f"{name}_PORT_{p['port']}_{proto}"
            env[base] = f"{proto.lower()}://{ip}:{p['port']}"
            env[base + "_PROTO"] = proto.lower()
            env[base + "_PORT"] = str(p["port"])
            env[base + "_ADDR"] = ip
    return env


class Container:
    def __init__(self, pod, spec, init):
        unknown = set(spec) - CONTAINER_FIELDS
        if unknown:
            raise NotEmulated(f"container field(s) {sorted(unknown)} in {pod.name}/{spec['name']}")
        self.pod = pod
        self.spec = spec
        self.name = spec["name"]
        self.init = init
        self.proc = None
        self.restarts = 0
        self.ready = False
        self.started_at = None
        self.last_exit = None          # (code, termination message)
        self.backoff = BACKOFF_START
        self.next_start = 0.0
        self.kill_requested = False
        self.stopping = False
        self.cname = f"{pod.cluster.run_id}-{pod.name}-{self.name}"
        self.term_file = os.path.join(pod.dir, "term", self.name)
        self.log_path = None

    # -- start ------------------------------------------------------------------------------
    def argv(self):
        spec, pod = self.spec, self.pod
        image = spec["image"]
        cfg = pm.image_config(image)
        psc = pod.spec.get("securityContext") or {}
        csc = spec.get("securityContext") or {}
        for k in ("privileged", "sysctls", "procMount", "windowsOptions", "seLinuxOptions"):
            if k in csc or k in psc:
                raise NotEmulated(f"securityContext.{k} in {pod.name}/{self.name}")
        uid = csc.get("runAsUser", psc.get("runAsUser"))
        gid = csc.get("runAsGroup", psc.get("runAsGroup"))
        image_user = (cfg.get("User") or "0").split(":")
        if uid is None:
            if not image_user[0].isdigit():
                if csc.get("runAsNonRoot", psc.get("runAsNonRoot")):
                    raise RuntimeError(f"{pod.name}/{self.name}: image has non-numeric user "
                                       f"({image_user[0]}), cannot verify user is non-root")
            uid = int(image_user[0]) if image_user[0].isdigit() else image_user[0]
        if csc.get("runAsNonRoot", psc.get("runAsNonRoot")) and uid == 0:
            raise RuntimeError(f"{pod.name}/{self.name}: container has runAsNonRoot and image "
                               "will run as root (CreateContainerConfigError)")
        user = str(uid) if gid is None else f"{uid}:{gid}"
        if gid is None and len(image_user) > 1 and "runAsUser" not in csc and "runAsUser" not in psc:
            user = ":".join(image_user)
        argv = ["run", "--rm", "--name", self.cname, "--label", f"{pm.LABEL}={pod.cluster.run_id}",
                "--network", "ns:" + pod.netns, "--hostname", pod.hostname,
                "--dns", pod.cluster.net_dns_ip, "--dns-option", "ndots:5",
                "--read-only-tmpfs=false", "--user", user, "--ipc", "private"] + pm.ULIMITS
        for d in pod.dns_search:
            argv += ["--dns-search", d]
        groups = list(psc.get("supplementalGroups") or [])
        if psc.get("fsGroup") is not None:
            groups.append(psc["fsGroup"])
        for g in groups:
            argv += ["--group-add", str(g)]
        if csc.get("readOnlyRootFilesystem"):
            argv.append("--read-only")
        if csc.get("allowPrivilegeEscalation") is False:
            argv += ["--security-opt", "no-new-privileges"]
        caps = csc.get("capabilities") or {}
        for c in caps.get("drop") or []:
            argv += ["--cap-drop", c]
        for c in caps.get("add") or []:
            argv += ["--cap-add", c]
        if spec.get("workingDir"):
            argv += ["--workdir", spec["workingDir"]]
        for k, v in self.env().items():
            argv += ["--env", f"{k}={v}"]
        for m in spec.get("volumeMounts") or []:
            host = pod.volumes.paths.get(m["name"])
            if host is None:
                raise RuntimeError(f"{pod.name}/{self.name}: volumeMount {m['name']} names no volume")
            if m.get("subPath"):
                host = os.path.join(host, m["subPath"])
                if not os.path.exists(host):
                    os.makedirs(host)   # the kubelet creates a missing subPath as a directory
            opt = "ro" if m.get("readOnly") else "rw"
            argv += ["--volume", f"{host}:{m['mountPath']}:{opt}"]
        os.makedirs(os.path.dirname(self.term_file), exist_ok=True)
        with open(self.term_file, "w"):
            pass
        os.chmod(self.term_file, 0o666)
        argv += ["--volume", f"{self.term_file}:{spec.get('terminationMessagePath', '/dev/termination-log')}:rw"]
        env = self.env()
        command = [expand(a, env) for a in spec.get("command") or []]
        args = [expand(a, env) for a in spec.get("args") or []]
        if command:
            argv += ["--entrypoint", json.dumps(command)]
            argv.append(image)
            argv += args
        else:
            argv.append(image)
            argv += args    # empty: the image's CMD stays
        return argv

    def env(self):
        pod = self.pod
        env = {}
        if pod.spec.get("enableServiceLinks", True) is not False:
            env.update(pod.service_links)
        for ef in self.spec.get("envFrom") or []:
            prefix = ef.get("prefix", "")
            if "configMapRef" in ef:
                obj = pod.cluster.get_object("ConfigMap", ef["configMapRef"]["name"])
                data = configmap_data(obj) if obj else {}
            elif "secretRef" in ef:
                obj = pod.cluster.get_object("Secret", ef["secretRef"]["name"])
                data = secret_data(obj) if obj else {}
            else:
                raise NotEmulated(f"envFrom {ef}")
            for k, v in data.items():
                env[prefix + k] = v.decode()
        for e in self.spec.get("env") or []:
            if "value" in e or "valueFrom" not in e:
                env[e["name"]] = expand(str(e.get("value", "")), env)
                continue
            vf = e["valueFrom"]
            if "fieldRef" in vf:
                env[e["name"]] = pod.field(vf["fieldRef"]["fieldPath"])
            elif "secretKeyRef" in vf or "configMapKeyRef" in vf:
                ref = vf.get("secretKeyRef") or vf.get("configMapKeyRef")
                kind = "Secret" if "secretKeyRef" in vf else "ConfigMap"
                obj = pod.cluster.get_object(kind, ref["name"])
                data = (secret_data(obj) if kind == "Secret" else configmap_data(obj)) if obj else {}
                if ref["key"] in data:
                    env[e["name"]] = data[ref["key"]].decode()
                elif not ref.get("optional"):
                    raise RuntimeError(f"{pod.name}/{self.name}: {kind} {ref['name']} key {ref['key']} not found")
            else:
                raise NotEmulated(f"env valueFrom {sorted(vf)} in {pod.name}/{self.name}")
        return env

    def start(self):
        argv = self.argv()
        self.log_path = os.path.join(self.pod.dir, "logs", f"{self.name}.{self.restarts}.log")
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        log = open(self.log_path, "w")
        pm.podman("rm", "-f", "-t", "0", self.cname, check=False)
        self.proc = subprocess.Popen(pm.GLOBAL + argv, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        self.started_at = time.monotonic()
        self.kill_requested = False
        self.pod.event(f"started container {self.name} (restart {self.restarts})")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def termination_message(self, code):
        msg = ""
        try:
            msg = open(self.term_file, errors="replace").read()[-4096:]
        except OSError:
            pass
        if not msg and code != 0 and self.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            try:
                lines = open(self.log_path, errors="replace").read().splitlines()[-80:]
                msg = "\n".join(lines)[-2048:]
            except OSError:
                pass
        return msg

    def reap(self):
        """If the container has exited: records how, returns True."""
        if self.proc is None or self.proc.poll() is None:
            return False
        code = self.proc.returncode
        self.last_exit = (code, self.termination_message(code))
        self.pod.event(f"container {self.name} exited {code}"
                       + (f": {self.last_exit[1].strip()[:300]}" if self.last_exit[1].strip() else ""))
        ran = time.monotonic() - (self.started_at or 0)
        self.backoff = BACKOFF_START if ran > BACKOFF_RESET else self.backoff
        self.next_start = time.monotonic() + (0 if self.init and code == 0 else self.backoff)
        if not (self.init and code == 0):
            self.backoff = min(self.backoff * 2, BACKOFF_MAX)
        self.proc = None
        self.ready = False
        return True

    def exec(self, argv, timeout, input=None):
        flags = ["-i"] if input is not None else []
        return pm.podman("exec", *flags, self.cname, *argv, check=False, timeout=timeout, input=input)

    def stop(self, grace):
        """preStop (counted in the grace period), then the stop signal, SIGKILL at the end."""
        if not self.running():
            return
        self.stopping = True
        deadline = time.monotonic() + grace
        hook = ((self.spec.get("lifecycle") or {}).get("preStop") or {})
        if grace > 0 and hook:
            if "exec" not in hook:
                raise NotEmulated(f"preStop {sorted(hook)} in {self.pod.name}/{self.name}")
            try:
                r = self.exec(hook["exec"]["command"], timeout=max(1, grace))
                self.pod.event(f"preStop of {self.name} exited {r.returncode}")
            except subprocess.TimeoutExpired:
                self.pod.event(f"preStop of {self.name} still running at the end of the grace period")
        remaining = max(0, int(deadline - time.monotonic()))
        if grace > 0:
            remaining = max(remaining, 2)   # the kubelet's minimum after a hook
        pm.podman("stop", "-t", str(remaining), self.cname, check=False, timeout=remaining + 60)
        try:
            self.proc.wait(remaining + 60)
        except subprocess.TimeoutExpired:
            pm.podman("kill", self.cname, check=False)
            self.proc.wait(30)
        self.stopping = False


class Probe(threading.Thread):
    def __init__(self, container, kind, spec):
        super().__init__(daemon=True, name=f"{container.cname}-{kind}")
        for k in spec:
            if k not in ("exec", "httpGet", "tcpSocket", "initialDelaySeconds", "periodSeconds",
                         "timeoutSeconds", "successThreshold", "failureThreshold"):
                raise NotEmulated(f"{kind} probe field {k} in {container.cname}")
        self.c, self.kind, self.spec = container, kind, spec
        self.period = spec.get("periodSeconds", 10)
        self.timeout = spec.get("timeoutSeconds", 1)
        self.success_needed = spec.get("successThreshold", 1)
        self.failures_allowed = spec.get("failureThreshold", 3)
        self.halt = threading.Event()
        self.last_reason = ""

    def port(self, value):
        if isinstance(value, int) or str(value).isdigit():
            return int(value)
        for p in self.c.spec.get("ports") or []:
            if p.get("name") == value:
                return p["containerPort"]
        raise LookupError(f"port {value!r} not found among container {self.c.name}'s ports")

    def check(self):
        s = self.spec
        if "exec" in s:
            try:
                r = self.c.exec(s["exec"]["command"], timeout=self.timeout)
            except subprocess.TimeoutExpired:
                return False, f"exec timed out after {self.timeout}s"
            return r.returncode == 0, (r.stdout + r.stderr).strip()[-300:]
        if "httpGet" in s:
            h = s["httpGet"]
            try:
                port = self.port(h["port"])
            except LookupError as e:
                return False, str(e)
            ip = h.get("host") or self.c.pod.ip

            def get():
                conn = http.client.HTTPConnection(ip, port, timeout=self.timeout)
                try:
                    conn.request("GET", h.get("path", "/"), headers={"User-Agent": "kube-probe/1.30"})
                    resp = conn.getresponse()
                    return resp.status, resp.read(300).decode(errors="replace")
                finally:
                    conn.close()
            try:
                status, body = self.c.pod.cluster.net.call(get, timeout=self.timeout + 5)
            except Exception as e:  # connection refused, timeout, ...
                return False, f"GET {ip}:{port}{h.get('path', '/')}: {e}"
            return 200 <= status < 400, f"HTTP {status} {body.strip()[:200]}"
        if "tcpSocket" in s:
            try:
                port = self.port(s["tcpSocket"]["port"])
            except LookupError as e:
                return False, str(e)

            def dial():
                socket.create_connection((self.c.pod.ip, port), timeout=self.timeout).close()
            try:
                self.c.pod.cluster.net.call(dial, timeout=self.timeout + 5)
                return True, ""
            except Exception as e:
                return False, str(e)
        raise NotEmulated(f"{self.kind} probe handler {sorted(s)}")

    def run(self):
        if self.halt.wait(self.spec.get("initialDelaySeconds", 0)):
            return
        successes = failures = 0
        while not self.halt.is_set():
            if not self.c.running() or self.c.stopping:
                successes = failures = 0
                if self.kind == "readiness":
                    self.c.ready = False
                if self.halt.wait(self.period):
                    return
                continue
            ok, reason = self.check()
            self.last_reason = reason
            if ok:
                successes, failures = successes + 1, 0
                if self.kind == "readiness" and successes >= self.success_needed:
                    self.c.ready = True
            else:
                successes, failures = 0, failures + 1
                if failures >= self.failures_allowed:
                    if self.kind == "readiness":
                        if self.c.ready:
                            self.c.pod.event(f"{self.c.name} not ready: {reason}")
                        self.c.ready = False
                    elif self.kind == "liveness" and not self.c.kill_requested:
                        self.c.pod.event(f"{self.c.name} failed liveness, killing: {reason}")
                        self.c.kill_requested = True
                        failures = 0
            if self.halt.wait(self.period):
                return


class Pod:
    def __init__(self, cluster, name, namespace, labels, annotations, spec, claim_dir, owner=None):
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
        self.owner = owner
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
        self._events = []
        self.thread = threading.Thread(target=self._run, daemon=True, name="pod-" + name)

    # -- status -----------------------------------------------------------------------------
    def event(self, text):
        line = f"{time.strftime('%H:%M:%S')} {self.name}: {text}"
        self._events.append(line)
        self.cluster.event(line)

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
            time.sleep(min(0.2, end - time.monotonic()) if end > time.monotonic() else 0)
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
                                  self.namespace, self.claim_dir, self.cluster.notes)
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
                elif kind == "readiness":
                    c.no_readiness_probe = True
        while self.deletion is None:
            for c in self.containers:
                if getattr(c, "no_readiness_probe", False):
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
