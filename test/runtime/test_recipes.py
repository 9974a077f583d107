"""The README's recipes on the chart's real pods (the ones that need the cluster's DNS)."""

import json
import os
import signal
import subprocess
import urllib.parse

from bed import SOURCE, RuntimeTest, http_get
from kubesim.net import BRIDGE_IP, DNS_IP

PROMETHEUS = "/usr/bin/prometheus"


class PrometheusRecipe(RuntimeTest):
    def test_prometheus_recipe_scrapes_every_pod_by_its_dns_name(self):
        """docs/recipes/prometheus.yml (Prometheus without the operator) as written, but for a
        1 s scrape interval, run inside the cluster network with the cluster DNS as its
        resolver (a pod's /etc/resolv.conf): every pod's sidecar is a target, labelled with its
        pod name and namespace as the chart's alert rules expect."""
        c = self.cluster
        self.install(replicas=3)
        recipe = open(os.path.join(SOURCE, "docs", "recipes", "prometheus.yml")).read()
        cfg = recipe.replace("scrape_interval: 15s", "scrape_interval: 1s")
        self.assertNotEqual(cfg, recipe)
        work = os.path.join(c.workdir, "prometheus")
        os.makedirs(os.path.join(work, "tsdb"))
        with open(os.path.join(work, "prometheus.yml"), "w") as f:
            f.write(cfg)
        with open(os.path.join(work, "resolv.conf"), "w") as f:
            f.write(f"nameserver {DNS_IP}\nsearch default.svc.cluster.local svc.cluster.local cluster.local\n")
        script = ('mount --bind "$1" /etc/resolv.conf && exec "$2" --config.file="$3" '
                  '--storage.tsdb.path="$4" --web.listen-address="$5" --log.level=info')
        argv = c.net.command(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                              os.path.join(work, "resolv.conf"), PROMETHEUS, os.path.join(work, "prometheus.yml"),
                              os.path.join(work, "tsdb"), f"{BRIDGE_IP}:9090"])
        log = open(os.path.join(work, "prometheus.log"), "w")
        prom = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        def query(promql):
            try:
                status, body = http_get(c, BRIDGE_IP, 9090, "/api/v1/query?query=" + urllib.parse.quote(promql))
            except OSError:
                return None
            return json.loads(body)["data"]["result"] if status == 200 else None

        try:
            up = lambda: {r["metric"].get("pod"): r["value"][1] for r in query("replagent_up") or []}
            c.wait(lambda: up() == {"todo-db-0": "1", "todo-db-1": "1", "todo-db-2": "1"}, 90,
                   "every pod's sidecar scraped through its DNS name")
            primary = query('replagent_role{role="primary"} == 1')
            self.assertEqual([(r["metric"]["pod"], r["metric"]["namespace"]) for r in primary],
                             [("todo-db-0", "default")])
            streaming = query('replagent_replicas_streaming{pod="todo-db-0"}')
            self.assertEqual(streaming[0]["value"][1], "2")
        except BaseException:
            log.flush()
            print(open(os.path.join(work, "prometheus.log")).read()[-3000:])
            raise
        finally:
            os.killpg(prom.pid, signal.SIGTERM)
            try:
                prom.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(prom.pid, signal.SIGKILL)
                prom.wait()
            log.close()
