"""What every runtime test shares: the images, the chart rendered by the real helm, a
kubesim cluster per test, and helpers to talk to the pods the way a user would.

Environment (set by test/runtime/CMakeLists.txt and scripts/test):
  REPLAGENT_SOURCE_DIR      the repository (for charts/replagent-postgres)
  REPLAGENT_HELM            helm
  REPLAGENT_POSTGRES_IMAGE  the OCI archive scripts/image-postgres made (the chart's image)
"""

import copy
import functools
import http.client
import json
import os
import ssl
import subprocess
import sys
import time
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kubesim import podman as pm            # noqa: E402
from kubesim.cluster import Cluster         # noqa: E402

SOURCE = os.environ.get("REPLAGENT_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
CHART = os.path.join(SOURCE, "charts", "replagent-postgres")
HELM = os.environ.get("REPLAGENT_HELM", "/var/cache/replagent-deps/chart-tools/bin/helm")
# The seed's names (todo-db, todo-db-rw, ...), which the tests use: the chart's default names
# follow the release (README "Names").
SEED_VALUES = os.path.join(CHART, "examples", "todo-db.yaml")
IMAGE_REPO = "localhost/replagent-postgres"
PSQL = "/usr/lib/postgresql/15/bin/psql"


@functools.lru_cache(maxsize=None)
def image_tag():
    """The image's tag, loaded into the bed's storage once per process (reading the archive's
    index walks the whole 140 MB tar)."""
    archive = os.environ.get("REPLAGENT_POSTGRES_IMAGE", "")
    if not archive or not os.path.exists(archive):
        raise unittest.SkipTest("REPLAGENT_POSTGRES_IMAGE is not set to an archive (scripts/test builds it)")
    out = subprocess.run(["tar", "-xOf", archive, "index.json"], capture_output=True, text=True, check=True).stdout
    ref = json.loads(out)["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
    tag = ref.rsplit(":", 1)[-1]
    pm.load_image(archive, f"{IMAGE_REPO}:{tag}")
    return tag


# `helm install`/`upgrade` look the generated passwords up in the cluster and keep them;
# `helm template` cannot (no API server), so every render would make new ones, which is a
# password rotation on each apply. The bed sets them, as a GitOps user does (or uses
# auth.existingSecret); a test that rotates passwords passes others.
FIXED_PASSWORDS = ["auth.superuserPassword=bed-superuser-pw", "auth.replicationPassword=bed-replication-pw",
                   "auth.monitorPassword=bed-monitor-pw", "auth.backupPassword=bed-backup-pw"]


def render(release="todo", values=(), namespace="default", seed=True):
    """`helm template` with the test bed's image; values: ["key=value", ...] for --set. seed:
    with examples/todo-db.yaml first (the names todo-db...), as the README installs it."""
    argv = [HELM, "template", release, CHART, "-n", namespace]
    if seed:
        argv += ["-f", SEED_VALUES]
    argv += ["--set", f"image.repository={IMAGE_REPO}", "--set", f"image.tag={image_tag()}"]
    for v in FIXED_PASSWORDS:
        argv += ["--set", v]
    for v in values:
        argv += ["--set", v]
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"helm template failed: {r.stderr}")
    return r.stdout


def keep_looked_up(cluster, manifests):
    """What `helm upgrade` renders for the chart's generated TLS Secret: the template looks the
    Secret up in the cluster and reuses its CA and certificate (templates/tls-secret.yaml), so
    an upgrade keeps them; `helm template` has no cluster and makes a new CA on every render,
    which to the pods is a CA rotation on each apply. The bed plays `lookup` by keeping the
    Secret the cluster already holds. Only while the names it covers are unchanged: with new
    names helm would sign a new certificate with the kept CA, which the bed cannot do here."""
    docs = [d for d in yaml.safe_load_all(manifests) if d]
    out = []
    for d in docs:
        annotations = d.get("metadata", {}).get("annotations") or {}
        kept = cluster.objects.get(("Secret", d["metadata"]["name"])) if d["kind"] == "Secret" else None
        if kept is not None and "replagent.io/tls-names" in annotations:
            was = (kept["metadata"].get("annotations") or {}).get("replagent.io/tls-names")
            if was != annotations["replagent.io/tls-names"]:
                raise AssertionError("the TLS names changed: helm would re-sign with the kept CA, "
                                     "which the bed does not play")
            d = copy.deepcopy(kept)
        out.append(d)
    return yaml.safe_dump_all(out)


class RuntimeTest(unittest.TestCase):
    """One cluster per test; on failure the events and every container's log are printed."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("the runtime test bed needs root (network namespaces, rootful podman)")
        image_tag()
        self.cluster = Cluster()
        self.started = time.monotonic()

    def tearDown(self):
        result = getattr(self._outcome, "result", None)
        failed = not getattr(self._outcome, "success", True) or (
            result is not None and any(t is self for t, _ in result.errors + result.failures))
        if failed or os.environ.get("KUBESIM_VERBOSE"):
            self.dump()
        self.cluster.close()
        print(f"[runtime] {self.id()} took {time.monotonic() - self.started:.0f} s", file=sys.stderr)

    def dump(self):
        c = self.cluster
        print("---- events ----\n" + c.events(400), file=sys.stderr)
        print("---- notes ----\n" + "\n".join(sorted(c.notes)), file=sys.stderr)
        try:
            dns = open(os.path.join(c.workdir, "dns", "dnsmasq.log"), errors="replace").read().splitlines()
            print("---- dnsmasq ----\n" + "\n".join(dns[-15:]), file=sys.stderr)
        except OSError:
            pass
        for p in c.all_pods():
            for ctr in p.init_containers + p.containers:
                if ctr.log_path and os.path.exists(ctr.log_path):
                    tail = open(ctr.log_path, errors="replace").read().splitlines()[-25:]
                    print(f"---- {p.name}/{ctr.name} (restarts {ctr.restarts}) ----", file=sys.stderr)
                    print("\n".join(tail), file=sys.stderr)

    # -- helpers ----------------------------------------------------------------------------
    def install(self, values=(), replicas=3, timeout=240):
        """`helm install todo -f examples/todo-db.yaml` with these values (the set todo-db),
        then wait as `kubectl rollout status` does and until every replica streams from the
        primary (pod primaryOrdinal)."""
        values = ["replicas=%d" % replicas] + list(values)
        self.cluster.apply(render("todo", values))
        ordinal = next((int(v.split("=", 1)[1]) for v in values if v.startswith("primaryOrdinal=")), 0)
        self.cluster.wait_settled("todo-db", timeout)
        self.wait_streaming(f"todo-db-{ordinal}", replicas - 1)
        if "roleLabel.enabled=false" not in values:
            # As `kubectl wait --for=jsonpath='{.metadata.labels.replagent\.io/role}'`: the
            # sidecars label their pods at their first poll.
            self.cluster.wait(lambda: all("replagent.io/role" in p.labels for p in self.cluster.pods()
                                          if p.name.startswith("todo-db-")), 60, "every pod labelled with its role")

    def upgrade(self, values):
        """`helm upgrade todo -f examples/todo-db.yaml --set ...` (values as render takes
        them): the render applied, with what the chart looks up in the cluster kept."""
        self.cluster.apply(keep_looked_up(self.cluster, render("todo", values)))

    def sql(self, pod, query, db="postgres", timeout=30):
        r = local_psql(self.cluster, pod, query, db, timeout)
        if r.returncode != 0:
            raise AssertionError(f"psql in {pod} failed: {query}: {r.stderr.strip()}")
        return r.stdout.strip()

    def streaming(self, primary):
        return self.sql(primary, "select count(*) from pg_catalog.pg_stat_replication where state = 'streaming'")

    def wait_streaming(self, primary, n, timeout=120):
        self.cluster.wait(lambda: self.streaming(primary) == str(n), timeout, f"{n} replicas streaming from {primary}")

    def tcp_query(self, ip, user, password, query, db="postgres", timeout=10):
        """A client's query over TCP from the cluster network (as an application would)."""
        env = dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT="3")
        return self.cluster.in_network([PSQL, "-h", ip, "-U", user, "-d", db, "-Atc", query],
                                       timeout=timeout, env=env)

    def http_get(self, ip, port, path, timeout=5):
        return http_get(self.cluster, ip, port, path, timeout)

    def api_patch(self, token, pod, labels):
        """(status, body) of a label patch of `pod` sent to the API server with `token`, from
        the cluster network, verifying the server as a pod does."""
        api = self.cluster.api

        def patch():
            ctx = ssl.create_default_context(cadata=api.ca_pem)
            conn = http.client.HTTPSConnection(api.host, api.port, timeout=10, context=ctx)
            try:
                conn.request("PATCH", f"/api/v1/namespaces/default/pods/{pod}",
                             body=json.dumps({"metadata": {"labels": labels}}),
                             headers={"Authorization": f"Bearer {token}",
                                      "Content-Type": "application/merge-patch+json"})
                resp = conn.getresponse()
                return resp.status, resp.read().decode(errors="replace")
            finally:
                conn.close()
        return self.cluster.net.call(patch, timeout=20)


def local_psql(cluster, pod, query, db="postgres", timeout=30):
    """psql in the pod's postgres container over the local socket (peer: the superuser), as
    `kubectl exec ... psql` does; unaligned, tuples only."""
    return cluster.exec(pod, "postgres", ["psql", "-h", "/var/run/postgresql", "-U", "postgres",
                                          "-d", db, "-v", "ON_ERROR_STOP=1", "-Atc", query],
                        timeout=timeout)


def http_get(cluster, ip, port, path, timeout=5):
    """(status, body) of a GET from the cluster network (as Prometheus or HAProxy would)."""
    return cluster.net.http_get(ip, port, path, timeout)
