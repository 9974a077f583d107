"""The API server, for the one call the pods make: a JSON merge patch of a pod's labels
(`PATCH /api/v1/namespaces/<ns>/pods/<name>`, the sidecar's role label).

It follows the real server's documented behaviour for that call: HTTPS only, its certificate
issued by the cluster CA (published to every namespace as the ConfigMap kube-root-ca.crt, which
pods mount), for the `kubernetes` Service's address (KUBERNETES_SERVICE_HOST, set by the kubelet
in every container); authentication by a bound service-account token (the kubelet writes it
into a projected `serviceAccountToken` volume; it is valid while its pod exists); authorisation
by RBAC (a RoleBinding in the namespace naming the service account, whose Role has a rule
matching apiGroup "", resource pods, verb patch and, when the rule lists resourceNames, the
pod's name); content types application/merge-patch+json (RFC 7386: null deletes a key) and
application/strategic-merge-patch+json (the same for labels). Answers: 200 with the pod, 401
Unauthorized, 403 Forbidden (with the real message's wording), 404 NotFound, 415. Other paths
and verbs raise NotEmulated (logged as a 501 answer and a cluster note).
"""

import json
import os
import re
import secrets
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_PORT = 443
OPENSSL = "/usr/bin/openssl"


def _openssl(args):
    subprocess.run([OPENSSL] + args, check=True, capture_output=True)


class ApiServer:
    def __init__(self, cluster, host_ip, workdir):
        self.cluster = cluster
        self.host = host_ip
        self.port = API_PORT
        self.dir = os.path.join(workdir, "apiserver")
        os.makedirs(self.dir, mode=0o700)
        self._tokens = {}          # token -> (namespace, service account, pod uid)
        self._lock = threading.Lock()
        self.requests = []         # (verb, path, status) of every request, for tests
        self._make_pki()
        self._server = None

    # -- certificates -------------------------------------------------------------------------
    def _make_pki(self):
        d = self.dir
        _openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                  "-nodes", "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt", "-subj", "/CN=kubernetes",
                  "-days", "2"])
        _openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", f"{d}/server.key", "-out", f"{d}/server.csr", "-subj", "/CN=kube-apiserver"])
        names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 f"kubernetes.default.svc.{self.cluster.domain}"]
        with open(f"{d}/server.ext", "w") as f:
            f.write("subjectAltName=" + ",".join([f"IP:{self.host}"] + [f"DNS:{n}" for n in names]) + "\n")
        _openssl(["x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.crt", "-CAkey", f"{d}/ca.key",
                  "-set_serial", "1", "-days", "2", "-extfile", f"{d}/server.ext", "-out", f"{d}/server.crt"])
        self.ca_pem = open(f"{d}/ca.crt").read()

    # -- tokens (the kubelet asks for one per pod and projected volume) ------------------------
    def issue_token(self, namespace, service_account, pod_uid):
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (namespace, service_account, pod_uid)
        return token

    def _authenticate(self, header):
        m = re.fullmatch(r"Bearer (\S+)", header or "")
        if not m:
            return None
        with self._lock:
            who = self._tokens.get(m.group(1))
        if who is None:
            return None
        ns, sa, uid = who
        # A bound token is valid while its pod exists.
        if not any(p.uid == uid for p in self.cluster.pods()):
            return None
        return ns, sa

    def _allowed(self, ns, sa, verb, resource, name):
        objs = dict(self.cluster.objects)
        for (kind, _), rb in objs.items():
            if kind != "RoleBinding" or rb["metadata"]["namespace"] != ns:
                continue
            if not any(s.get("kind") == "ServiceAccount" and s.get("name") == sa
                       and s.get("namespace", ns) == ns for s in rb.get("subjects") or []):
                continue
            ref = rb["roleRef"]
            if ref["kind"] != "Role":
                continue
            role = objs.get(("Role", ref["name"]))
            if role is None or role["metadata"]["namespace"] != ns:
                continue
            for rule in role.get("rules") or []:
                if not set(rule.get("apiGroups") or []) & {"", "*"}:
                    continue
                if not set(rule.get("resources") or []) & {resource, "*"}:
                    continue
                if not set(rule.get("verbs") or []) & {verb, "*"}:
                    continue
                names = rule.get("resourceNames") or []
                if names and name not in names:
                    continue
                return True
        return False

    # -- serving -----------------------------------------------------------------------------
    def start(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(f"{self.dir}/server.crt", f"{self.dir}/server.key")
        # The socket is made inside the cluster network (the pool's threads live there).
        sock = self.cluster.net.call(lambda: socket.create_server((self.host, API_PORT)), timeout=10)
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, status, obj):
                body = json.dumps(obj).encode()
                api.requests.append((self.command, self.path, status))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def _status(self, code, reason, message):
                self._answer(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                    "message": message, "reason": reason, "code": code})

            def do_PATCH(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                who = api._authenticate(self.headers.get("Authorization"))
                if who is None:
                    return self._status(401, "Unauthorized", "Unauthorized")
                m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/([^/?]+)", self.path)
                if not m:
                    api.cluster.notes.add(f"API PATCH {self.path} not emulated")
                    return self._status(501, "NotImplemented", f"not emulated: PATCH {self.path}")
                ns, name = m.groups()
                sa_ns, sa = who
                if not api._allowed(ns, sa, "patch", "pods", name):
                    return self._status(403, "Forbidden",
                                        f'pods "{name}" is forbidden: User "system:serviceaccount:{sa_ns}:{sa}" '
                                        f'cannot patch resource "pods" in API group "" in the namespace "{ns}"')
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                if ctype not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                    return self._status(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
                try:
                    patch = json.loads(raw)
                except ValueError as e:
                    return self._status(400, "BadRequest", f"error decoding patch: {e}")
                pods = [p for p in api.cluster.pods() if p.name == name and p.namespace == ns]
                if not pods:
                    return self._status(404, "NotFound", f'pods "{name}" not found')
                pod = pods[-1]
                unknown = set(patch) - {"metadata"} or set(patch.get("metadata") or {}) - {"labels"}
                if unknown:
                    api.cluster.notes.add(f"API patch of {sorted(unknown)} not emulated")
                    return self._status(501, "NotImplemented", f"not emulated: patch of {sorted(unknown)}")
                with api.cluster.lock:
                    for k, v in ((patch.get("metadata") or {}).get("labels") or {}).items():
                        if v is None:
                            pod.labels.pop(k, None)
                        else:
                            pod.labels[k] = str(v)
                    labels = dict(pod.labels)
                api.cluster.event(f"{name}: labels patched by system:serviceaccount:{sa_ns}:{sa}: {labels}")
                api.cluster.refresh_dns()
                self._answer(200, {"kind": "Pod", "apiVersion": "v1",
                                   "metadata": {"name": name, "namespace": ns, "uid": pod.uid, "labels": labels}})

            def do_GET(self):
                self._status(501, "NotImplemented", f"not emulated: GET {self.path}")

        server = ThreadingHTTPServer((self.host, API_PORT), Handler, bind_and_activate=False)
        server.socket.close()
        server.socket = ctx.wrap_socket(sock, server_side=True)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True, name="apiserver").start()

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
