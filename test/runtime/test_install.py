"""The chart's pods from nothing: `helm install` equivalents on the runtime test bed."""

import json
import os
import subprocess
import threading

from bed import RuntimeTest, render

PROMTOOL = os.environ.get("PROMTOOL", "promtool")


class Install(RuntimeTest):
    def test_three_ready_pods_stream_and_serve(self):
        """From nothing to three Ready pods: replicas stream, -rw is pod 0, -ro the replicas
        (labelled by their sidecars through the API server), -r every pod; /metrics passes
        promtool; a read-only root filesystem and fsGroup on a new volume."""
        c = self.cluster
        self.install(replicas=3)

        ips = {n: c.pod(n).ip for n in ("todo-db-0", "todo-db-1", "todo-db-2")}
        self.assertEqual(c.service_endpoints("todo-db-rw"), [ips["todo-db-0"]])
        self.assertEqual(c.service_endpoints("todo-db-ro"), sorted([ips["todo-db-1"], ips["todo-db-2"]]))
        self.assertEqual(c.service_endpoints("todo-db-r"), sorted(ips.values()))
        self.assertEqual(c.pod("todo-db-0").labels.get("replagent.io/role"), "primary")
        self.assertIn(("PATCH", "/api/v1/namespaces/default/pods/todo-db-1", 200), c.api.requests)

        # The sidecar's token may patch the set's pods and nothing else (the chart's Role).
        token = open(os.path.join(c.pod("todo-db-1").volumes.paths["kube-api-access"], "token")).read()
        self.assertEqual(self.api_patch(token, "todo-db-2", {"x": "y"})[0], 200)
        status, body = self.api_patch(token, "other-db-0", {"x": "y"})
        self.assertEqual(status, 403, body)
        self.assertIn('cannot patch resource "pods"', json.loads(body)["message"])
        self.assertEqual(self.api_patch("not-a-token", "todo-db-1", {"x": "y"})[0], 401)
        # No other container has it.
        r = c.exec("todo-db-1", "postgres", ["ls", "/var/run/secrets/kubernetes.io/serviceaccount"])
        self.assertNotEqual(r.returncode, 0, r.stdout)

        # A write on the primary reaches both replicas.
        self.sql("todo-db-0", "create table t(x int); insert into t values (42)")
        for replica in ("todo-db-1", "todo-db-2"):
            c.wait(lambda r=replica: self.sql(r, "select coalesce(sum(x), 0) from t") == "42"
                   if self.sql(r, "select count(*) from pg_catalog.pg_tables where tablename = 't'") == "1"
                   else False, 60, f"row on {replica}")
            self.assertEqual(self.sql(replica, "select pg_catalog.pg_is_in_recovery()"), "t")

        # /metrics from the sidecar, as Prometheus would scrape it, and promtool's lint.
        for name, role in (("todo-db-0", "primary"), ("todo-db-1", "replica")):
            status, body = self.http_get(ips[name], 9187, "/metrics")
            self.assertEqual(status, 200)
            self.assertIn(f'replagent_role{{role="{role}"}} 1', body)
            lint = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, text=True)
            self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)
        status, body = self.http_get(ips["todo-db-0"], 9187, "/metrics")
        self.assertIn("replagent_replicas_streaming 2", body)

        # readOnlyRootFilesystem: nothing writes outside the volumes.
        r = c.exec("todo-db-1", "postgres", ["sh", "-c", "touch /probe-rootfs"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Read-only file system", r.stderr)
        # fsGroup on a fresh (root-owned 0755) volume: the kubelet gave it to gid 999, setgid.
        st = os.stat(c.claim_path("data-todo-db-1"))
        self.assertEqual(st.st_gid, 999)
        self.assertTrue(st.st_mode & 0o2000, oct(st.st_mode))
        self.assertEqual(self.sql("todo-db-1", "show data_directory"), "/var/lib/postgresql/data/pgdata")
        # The pods run as the postgres uid, never root.
        self.assertEqual(c.exec("todo-db-0", "replagent", ["/usr/local/bin/replagent", "version"]).returncode, 0)
        self.assertEqual(c.exec("todo-db-0", "postgres", ["id", "-u"]).stdout.strip(), "999")

    def test_http_readiness_mode(self):
        """probes.readiness.mode=http: the kubelet asks the sidecar's /readyz on the postgres
        container's probe (a port number: a name would be looked up in the wrong container)."""
        c = self.cluster
        self.install(replicas=2, values=["probes.readiness.mode=http"])
        probe = c.pod("todo-db-1").containers[0].spec["readinessProbe"]
        self.assertIn("httpGet", probe)

    def test_release_name_whose_service_links_look_like_settings(self):
        """A release named replagent-postgres: its Services' link variables
        (REPLAGENT_POSTGRES_RW_PORT, ...) look like replagent settings. The chart turns the links
        off; and with them on (patched back, as enableServiceLinks defaults to true) the agent
        only warns, naming the variable and the closest key, and the set still comes up."""
        c = self.cluster
        manifests = render("replagent-postgres", ["replicas=2"], seed=False)
        self.assertTrue("name: replagent-postgres-rw\n" in manifests, "the release's -rw Service")
        self.assertTrue("enableServiceLinks: false" in manifests, "the chart turns service links off")
        manifests = manifests.replace("enableServiceLinks: false", "enableServiceLinks: true")
        c.apply(manifests)
        c.wait_settled("replagent-postgres", 240)
        self.wait_streaming("replagent-postgres-0", 1)
        init = c.pod("replagent-postgres-1").container("init")
        log = open(init.log_path, errors="replace").read()
        self.assertIn("REPLAGENT_POSTGRES_RW_PORT", log)
        env = c.exec("replagent-postgres-1", "postgres", ["env"]).stdout
        self.assertIn("REPLAGENT_POSTGRES_RW_SERVICE_HOST=", env)


class Writes(RuntimeTest):
    def test_reads_on_ro_survive_a_forced_delete_of_pod0(self):
        """kubectl delete pod todo-db-0 --force --grace-period=0 under read load on the -ro
        endpoints: every read succeeds while pod 0 is away and after; pod 0 comes back as the
        primary with its data and both replicas stream again."""
        c = self.cluster
        self.install(replicas=3)
        self.sql("todo-db-0", "create role app login password 'app-secret'; create table t(x int); "
                              "insert into t select generate_series(1, 100); grant select on t to app")
        replicas = [c.pod(n).ip for n in ("todo-db-1", "todo-db-2")]
        for ip in replicas:
            c.wait(lambda ip=ip: self.tcp_query(ip, "app", "app-secret", "select count(*) from t").stdout.strip() == "100",
                   60, "rows replicated")

        results = []
        stop = threading.Event()

        def reader():
            i = 0
            while not stop.is_set():
                eps = [ip for ip in c.service_endpoints("todo-db-ro") if ip in replicas]
                if not eps:
                    results.append(("no endpoint", ""))
                else:
                    ip = eps[i % len(eps)]
                    r = self.tcp_query(ip, "app", "app-secret", "select count(*) from t")
                    results.append((r.stdout.strip(), r.stderr.strip()))
                i += 1
                stop.wait(0.2)
        t = threading.Thread(target=reader)
        t.start()
        try:
            old = c.delete_pod("todo-db-0", force=True)
            old.wait_gone(60)
            c.wait(lambda: any(p.name == "todo-db-0" and p is not old for p in c.pods()), 30, "pod 0 recreated")
            c.wait_settled("todo-db", 240)
            self.wait_streaming("todo-db-0", 2, timeout=180)
        finally:
            stop.set()
            t.join()
        failed = [r for r in results if r[0] != "100"]
        self.assertGreater(len(results), 10)
        self.assertEqual(failed, [], f"{len(failed)} of {len(results)} reads failed")
        self.assertEqual(self.sql("todo-db-0", "select count(*) from t"), "100")
        self.assertEqual(self.sql("todo-db-0", "select pg_catalog.pg_is_in_recovery()"), "f")
