"""Probes as the kubelet runs them (exec, httpGet, tcpSocket, with their timings): one thread per
container and probe kind (see kubelet.py for the behaviour followed)."""

import socket
import subprocess
import threading

from .errors import NotEmulated


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
            try:
                status, body = self.c.pod.cluster.net.http_get(
                    ip, port, h.get("path", "/"), self.timeout, headers={"User-Agent": "kube-probe/1.30"})
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
