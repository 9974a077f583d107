"""A container of a pod, as the kubelet runs it: the `podman run` arguments from the container
spec (user and groups, read-only root, capabilities, env, mounts, command/args), start, exit
and termination message, exec, and stop with preStop and the grace period (see kubelet.py for
the behaviour followed)."""

import json
import os
import re
import subprocess
import time

from . import podman as pm
from .errors import NotEmulated
from .net import DNS_IP
from .volumes import configmap_data, parse_quantity, secret_data

BACKOFF_START, BACKOFF_MAX, BACKOFF_RESET = 10.0, 300.0, 600.0
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


def memory_cgroup_available():
    """Whether containers can get a memory limit here (cgroup v1 memory controller, or v2
    with memory enabled); without it the limits are not enforced (noted by the cluster)."""
    if os.path.isdir("/sys/fs/cgroup/memory"):
        return True
    try:
        return "memory" in open("/sys/fs/cgroup/cgroup.controllers").read().split()
    except OSError:
        return False


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
        # The container's setting wins over the pod's; without runAsUser the image's USER
        # (and its group, unless runAsGroup is set) applies.
        uid = csc.get("runAsUser", psc.get("runAsUser"))
        gid = csc.get("runAsGroup", psc.get("runAsGroup"))
        non_root = csc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        if uid is None:
            image_user = (cfg.get("User") or "0").split(":", 1)
            if not image_user[0].isdigit() and non_root:
                raise RuntimeError(f"{pod.name}/{self.name}: image has non-numeric user "
                                   f"({image_user[0]}), cannot verify user is non-root")
            uid = int(image_user[0]) if image_user[0].isdigit() else image_user[0]
            if gid is None and len(image_user) > 1:
                gid = image_user[1]
        if non_root and uid == 0:
            raise RuntimeError(f"{pod.name}/{self.name}: container has runAsNonRoot and image "
                               "will run as root (CreateContainerConfigError)")
        user = str(uid) if gid is None else f"{uid}:{gid}"
        env = self.env()
        argv = ["run", "--rm", "--name", self.cname, "--label", f"{pm.LABEL}={pod.cluster.run_id}",
                "--network", "ns:" + pod.netns, "--hostname", pod.hostname,
                "--dns", DNS_IP, "--dns-option", "ndots:5",
                "--read-only-tmpfs=false", "--user", user, "--ipc", "private"] + pm.ULIMITS
        for d in pod.dns_search:
            argv += ["--dns-search", d]
        # resources.limits.memory as the kubelet sets it: the container's memory cgroup limit
        # (a memory-backed emptyDir, /dev/shm, is charged to it too; over it the kernel's OOM
        # killer ends the container, exit 137). Requests only place pods: there is no scheduler.
        # CPU limits are not emulated (the chart sets none).
        limit = ((spec.get("resources") or {}).get("limits") or {}).get("memory")
        if limit is not None and memory_cgroup_available():
            argv += ["--memory", str(parse_quantity(limit))]
        elif limit is not None:
            pod.cluster.notes.add("memory limits not enforced: no memory cgroup controller here")
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
        for k, v in env.items():
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
        command = [expand(a, env) for a in spec.get("command") or []]
        args = [expand(a, env) for a in spec.get("args") or []]
        if command:   # podman, like the kubelet, then drops the image's CMD too
            argv += ["--entrypoint", json.dumps(command)]
        return argv + [image] + args   # no command and no args: the image's CMD stays

    def env(self):
        pod = self.pod
        env = {}
        # The kubelet always sets the API server's address (the `kubernetes` Service of the
        # default namespace), with or without enableServiceLinks: client-go's in-cluster config.
        api = getattr(pod.cluster, "api", None)
        if api is not None:
            env.update({"KUBERNETES_SERVICE_HOST": api.host, "KUBERNETES_SERVICE_PORT": str(api.port),
                        "KUBERNETES_SERVICE_PORT_HTTPS": str(api.port),
                        "KUBERNETES_PORT": f"tcp://{api.host}:{api.port}"})
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
