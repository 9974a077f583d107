"""Day-two operations on the chart's pods: scale, backup Job, a non-zero primary ordinal,
rolling updates; and the review's defects reproduced on purpose (the bed must catch them)."""

import os
import re
import time

from bed import PSQL, RuntimeTest, render

PG_RESTORE = "/usr/lib/postgresql/15/bin/pg_restore"


class Scale(RuntimeTest):
    def test_scale_3_to_1_to_3(self):
        """Scale-down removes the highest ordinals and keeps their claims; the replicas come
        back on their old volumes, catch up on what was written meanwhile and stream."""
        c = self.cluster
        self.install(replicas=3)
        self.sql("todo-db-0", "create table t(x int); insert into t values (1)")
        c.scale("todo-db", 1)
        c.wait(lambda: [p.name for p in c.pods()] == ["todo-db-0"], 120, "pods 1 and 2 gone")
        c.wait_settled("todo-db", 60)
        self.assertIn("data-todo-db-2", c.claims())
        self.sql("todo-db-0", "insert into t select generate_series(2, 1000)")
        c.scale("todo-db", 3)
        c.wait_settled("todo-db", 240)
        self.wait_streaming("todo-db-0", 2)
        for r in ("todo-db-1", "todo-db-2"):
            c.wait(lambda r=r: self.sql(r, "select count(*) from t") == "1000", 60, f"rows on {r}")
            init = c.pod(r).container("init")
            self.assertNotIn("cloned", init.last_exit[1], f"{r} re-cloned instead of reusing its volume")


class Backup(RuntimeTest):
    def test_backup_cronjob_once_and_restore_its_dump(self):
        """`kubectl create job --from=cronjob/todo-db-backup`: the Job's pod dumps a replica
        onto the backup volume; that dump restores into a fresh database with every row."""
        c = self.cluster
        self.install(replicas=2)
        self.sql("todo-db-0", "create table items(id int primary key, name text); "
                              "insert into items select i, 'item ' || i from generate_series(1, 500) i")
        c.wait(lambda: self.sql("todo-db-1", "select count(*) from pg_catalog.pg_tables where tablename = 'items'") == "1"
               and self.sql("todo-db-1", "select count(*) from items") == "500", 60, "rows on the replica")
        job = c.run_cronjob("todo-db-backup", timeout=300)
        self.assertTrue(job.succeeded, f"backup Job failed: {job.termination_messages('backup')}\n{job.log('backup')[-3000:]}")
        backup_dir = c.claim_path("todo-db-backup")
        dumps = sorted(f for f in os.listdir(backup_dir) if f.endswith(".dump"))
        self.assertEqual(len(dumps), 1, os.listdir(backup_dir))
        dump = os.path.join(backup_dir, dumps[0])
        self.assertEqual(os.stat(dump).st_mode & 0o077, 0, "the dump is private to its owner")

        # Restore it as an application would: an ordinary role, a fresh database, over TCP.
        self.sql("todo-db-0", "create role restorer login password 'restore-secret'")
        self.sql("todo-db-0", "create database restored owner restorer")
        env = dict(os.environ, PGPASSWORD="restore-secret")
        r = c.in_network([PG_RESTORE, "-h", c.pod("todo-db-0").ip, "-U", "restorer", "-d", "restored",
                          "--no-owner", "--no-privileges", dump], timeout=120, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = c.in_network([PSQL, "-h", c.pod("todo-db-0").ip, "-U", "restorer", "-d", "restored", "-Atc",
                          "select count(*), max(name) from items"], env=env)
        self.assertEqual(r.stdout.strip(), "500|item 99")


class PrimaryOrdinal(RuntimeTest):
    def test_primary_ordinal_1_from_nothing_and_after_every_pod_is_deleted(self):
        """primaryOrdinal: 1 comes up from empty volumes (pod 0 is a replica that waits for
        pod 1, which Parallel creates at once), and again after every pod is deleted at once."""
        c = self.cluster
        self.install(replicas=3, values=["primaryOrdinal=1"])
        self.assertEqual(self.sql("todo-db-1", "select pg_catalog.pg_is_in_recovery()"), "f")
        self.assertEqual(c.service_endpoints("todo-db-rw"), [c.pod("todo-db-1").ip])
        self.sql("todo-db-1", "create table t as select generate_series(1, 10) x")
        old = [c.delete_pod(n) for n in ("todo-db-0", "todo-db-1", "todo-db-2")]
        for p in old:
            p.wait_gone(150)
        c.wait(lambda: len(c.pods()) == 3, 30, "pods recreated")
        c.wait_settled("todo-db", 240)
        self.wait_streaming("todo-db-1", 2)
        self.assertEqual(self.sql("todo-db-1", "select count(*) from t"), "10")
        self.assertEqual(self.sql("todo-db-0", "select pg_catalog.pg_is_in_recovery()"), "t")

    def test_ordered_ready_with_primary_ordinal_1_deadlocks(self):
        """The review's defect, reproduced on purpose to show the bed catches it: with
        OrderedReady (the chart before 0.2.0) pod 0, a replica, waits for the primary, and the
        controller creates pod 1 only once pod 0 is Ready: no pod is ever Ready."""
        c = self.cluster
        manifests = render("todo", ["replicas=2", "primaryOrdinal=1"])
        self.assertTrue("podManagementPolicy: Parallel" in manifests)
        c.apply(manifests.replace("podManagementPolicy: Parallel", "podManagementPolicy: OrderedReady"))
        time.sleep(45)
        self.assertEqual([p.name for p in c.pods()], ["todo-db-0"], "only pod 0 exists")
        self.assertFalse(c.pod("todo-db-0").ready)
        self.assertFalse(c.pod("todo-db-0").init_done, "pod 0 is still in its init container")


class Probes(RuntimeTest):
    def test_named_probe_port_of_another_container_never_gets_ready(self):
        """The review's first defect, reproduced on purpose: an httpGet readiness probe on the
        postgres container naming the sidecar's port "metrics" fails (the kubelet looks the
        name up among the probed container's ports only), so the pod never becomes Ready."""
        c = self.cluster
        manifests = render("todo", ["replicas=1", "probes.readiness.mode=http"])
        fixed = "httpGet:\n              path: /readyz\n              port: 9187"
        self.assertTrue(fixed in manifests, "the chart probes the port by number")
        c.apply(manifests.replace(fixed, "httpGet:\n              path: /readyz\n              port: metrics"))
        c.wait(lambda: c.pods() and c.pod("todo-db-0").phase == "Running", 120, "pod 0 running")
        time.sleep(25)
        pod = c.pod("todo-db-0")
        self.assertFalse(pod.ready)
        reasons = [p.last_reason for p in pod.probes if p.kind == "readiness"]
        self.assertIn("port 'metrics' not found", reasons[0])


class RollingUpdate(RuntimeTest):
    def test_config_change_rolls_replicas_first_primary_last(self):
        """A changed setting changes the pod template (the config checksum), and the
        controller replaces the pods from the highest ordinal down, each after the previous
        one is Ready again: the primary last. Replicas stream again at the end."""
        c = self.cluster
        self.install(replicas=3)
        self.sql("todo-db-0", "create table t as select generate_series(1, 10) x")
        before = {p.name: p for p in c.pods()}
        self.upgrade(["replicas=3", "agent.pollInterval=3s"])
        c.wait(lambda: all(p.gone.is_set() for p in before.values()), 600, "every old pod replaced")
        c.wait_settled("todo-db", 240)
        self.wait_streaming("todo-db-0", 2)
        order = re.findall(r"(todo-db-\d): rolling update", c.events(2000))
        self.assertEqual(order, ["todo-db-2", "todo-db-1", "todo-db-0"])
        for r in ("todo-db-1", "todo-db-2"):
            self.assertEqual(self.sql(r, "select count(*) from t"), "10")
        cfg = c.exec("todo-db-1", "replagent", ["/usr/local/bin/replagent", "config"]).stdout
        self.assertIn("poll_interval = '3s'", cfg)


class Slots(RuntimeTest):
    def test_replicas_scaled_away_cannot_fill_the_primarys_volume(self):
        """Scale 3 -> 1 and write three times the volume's WAL budget (a 512Mi claim: slot
        bound 128MiB + max_wal_size 64MiB, both derived from persistence.size): the primary
        stays up with its WAL within the bound, the sidecar drops the departed pods' slots, and
        on scale 3 both replicas re-clone (their WAL is gone) and stream again. With
        maxSlotWalKeepSize=unlimited and PostgreSQL's max_wal_size the same writes fill the
        volume and the primary stops (PANIC: could not write to file "pg_wal/...")."""
        c = self.cluster
        self.install(replicas=3, values=["persistence.size=512Mi",
                                         "agent.extraConfig.sidecar.slot_drop_after=20s"])
        self.assertEqual(self.sql("todo-db-0", "show max_slot_wal_keep_size"), "128MB")
        self.assertEqual(self.sql("todo-db-0", "show max_wal_size"), "64MB")
        primary = c.pod("todo-db-0")
        c.scale("todo-db", 1)
        c.wait(lambda: [p.name for p in c.pods()] == ["todo-db-0"], 120, "pods 1 and 2 gone")
        start = self.sql("todo-db-0", "select pg_catalog.pg_current_wal_lsn()")
        self.sql("todo-db-0", "create table w(x text)")
        for _ in range(12):   # ~55 MB of WAL each, the table emptied again
            self.sql("todo-db-0", "insert into w select repeat('x', 1000) from generate_series(1, 50000); "
                                  "truncate w", timeout=180)
        written = int(self.sql("todo-db-0", f"select pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), '{start}')"))
        self.assertGreater(written, 3 * 192 * 2**20, "three times the WAL budget was written")
        self.sql("todo-db-0", "checkpoint")
        wal = int(self.sql("todo-db-0", "select sum(size) from pg_catalog.pg_ls_waldir()"))
        print(f"[runtime] wrote {written >> 20} MiB of WAL; pg_wal holds {wal >> 20} MiB", flush=True)
        self.assertLess(wal, 300 * 2**20)
        self.assertIs(c.pod("todo-db-0"), primary)
        self.assertEqual(primary.restarts("postgres"), 0, "the primary never stopped")
        c.wait(lambda: self.sql("todo-db-0", "select count(*) from pg_catalog.pg_replication_slots") == "0",
               120, "the departed pods' slots dropped")
        _, metrics = self.http_get(primary.ip, 9187, "/metrics")
        self.assertIn("replagent_replication_slots_dropped_total 2", metrics)
        c.scale("todo-db", 3)
        c.wait_settled("todo-db", 300)
        self.wait_streaming("todo-db-0", 2)
        for r in ("todo-db-1", "todo-db-2"):
            self.assertIn("cloned", c.pod(r).container("init").last_exit[1])


class Lag(RuntimeTest):
    def test_a_replica_behind_a_burst_stays_ready_while_strict_routing_leaves_it(self):
        """The default readiness bound (agent.maxLag 1GiB) rides out a burst of WAL: a replica
        64MB behind (replay paused) stays Ready, so neither -ro nor a rolling update depends on
        bursts; /replica?lag=16MB, the per-request strict bound, answers 503 for it meanwhile."""
        c = self.cluster
        self.install(replicas=2)
        replica = c.pod("todo-db-1")
        self.sql("todo-db-1", "select pg_catalog.pg_wal_replay_pause()")
        self.sql("todo-db-0", "create table burst as select repeat('x', 1000) x from generate_series(1, 60000)", timeout=120)

        def lag():
            return int(self.sql("todo-db-1", "select pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_last_wal_receive_lsn(), "
                                             "pg_catalog.pg_last_wal_replay_lsn())"))
        c.wait(lambda: lag() > 32 * 2**20, 60, "the replica 32MB+ behind")
        c.wait(lambda: self.http_get(replica.ip, 9187, "/replica?lag=16MB")[0] == 503, 30, "strict routing leaves it")
        time.sleep(20)   # four readiness periods
        self.assertTrue(replica.ready, "a replica behind a burst stays Ready")
        self.assertIn(replica.ip, c.service_endpoints("todo-db-ro"))
        self.assertEqual(self.http_get(replica.ip, 9187, "/replica")[0], 200)
        self.sql("todo-db-1", "select pg_catalog.pg_wal_replay_resume()")
        c.wait(lambda: self.http_get(replica.ip, 9187, "/replica?lag=16MB")[0] == 200, 60, "caught up")


class Runbook(RuntimeTest):
    def test_pod0_volume_lost_promote_pod1_and_pod0_reclones_from_it(self):
        """README "Losing the primary's volume", step by step: pod 0 comes back on an empty
        volume and its init refuses to initdb while a peer holds data; `replagent promote` in
        pod 1 (refused while pod 0's server still answered); `helm upgrade --set
        primaryOrdinal=1`; pod 0 and pod 2 re-clone from pod 1; every committed row is there."""
        c = self.cluster
        self.install(replicas=3)
        self.sql("todo-db-0", "create table t as select generate_series(1, 1000) x")
        lsn = self.sql("todo-db-0", "select pg_catalog.pg_current_wal_lsn()")
        for r in ("todo-db-1", "todo-db-2"):
            c.wait(lambda r=r: self.sql(r, f"select pg_catalog.pg_last_wal_replay_lsn() >= '{lsn}'") == "t",
                   60, f"{r} caught up")
        # While pod 0 runs, promote refuses (two primaries would take writes).
        r = c.exec("todo-db-1", "postgres", ["replagent", "promote"])
        self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
        self.assertIn("still answers", r.stderr)
        self.assertEqual(self.sql("todo-db-1", "select pg_catalog.pg_is_in_recovery()"), "t")

        # The volume of pod 0 is lost: the pod comes back on a new, empty one.
        old = c.delete_pod("todo-db-0", with_claims=["data-todo-db-0"])
        old.wait_gone(150)
        c.wait(lambda: any(p.name == "todo-db-0" and p is not old and p.container("init").last_exit
                           and p.container("init").last_exit[0] != 0 for p in c.pods()),
               120, "pod 0's init refusing its empty volume")
        msg = c.pod("todo-db-0").container("init").last_exit[1]
        self.assertIn("holds data of cluster", msg)
        self.assertIn("replagent promote", msg)

        r = c.exec("todo-db-1", "postgres", ["replagent", "promote"], timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("primaryOrdinal=1", r.stdout)
        self.assertEqual(self.sql("todo-db-1", "select pg_catalog.pg_is_in_recovery()"), "f")

        self.upgrade(["replicas=3", "primaryOrdinal=1"])
        c.wait_settled("todo-db", 400)
        self.wait_streaming("todo-db-1", 2, timeout=180)
        self.assertEqual(c.service_endpoints("todo-db-rw"), [c.pod("todo-db-1").ip])
        # The promoted pod left -ro (its sidecar relabelled it), the re-cloned pods joined it.
        c.wait(lambda: c.service_endpoints("todo-db-ro") == sorted([c.pod("todo-db-0").ip, c.pod("todo-db-2").ip]),
               60, "-ro: pods 0 and 2")
        self.assertEqual(c.pod("todo-db-1").labels.get("replagent.io/role"), "primary")
        for p in ("todo-db-0", "todo-db-2"):
            self.assertEqual(self.sql(p, "select pg_catalog.pg_is_in_recovery()"), "t")
            c.wait(lambda p=p: self.sql(p, "select count(*) from t") == "1000", 60, f"rows on {p}")
        self.assertEqual(self.sql("todo-db-1", "select count(*) from t"), "1000")


class Passwords(RuntimeTest):
    def test_rotated_passwords_roll_the_set_and_replicas_stream_and_clone_with_them(self):
        """Every password of the chart's Secret rotated, as `helm upgrade --set auth.*=...` or
        a GitOps render does. The Secret's checksum rolls the pods, replicas first, and the
        kubelet refreshes the running primary's mounted files only later (here 20 s; on a
        cluster up to about a minute), so each replica's init writes the new replication
        password while the primary still has the old one. The primary's sidecar applies the
        rotated passwords from its files (ALTER ROLE over the socket): the replicas stream
        again, the roll goes on to the primary, and a new replica clones with them. Without
        that, the first replica never becomes Ready and the roll stops there."""
        c = self.cluster
        self.install(replicas=3)
        self.sql("todo-db-0", "create table t as select generate_series(1, 10) x")
        c.secret_sync_delay = 20
        before = {p.name: p for p in c.pods()}
        rotated = ["auth.superuserPassword=rotated-superuser", "auth.replicationPassword=rotated-replication",
                   "auth.monitorPassword=rotated-monitor", "auth.backupPassword=rotated-backup"]
        self.upgrade(["replicas=3"] + rotated)
        c.wait(lambda: all(p.gone.is_set() for p in before.values()), 600, "every old pod replaced")
        c.wait_settled("todo-db", 240)
        self.wait_streaming("todo-db-0", 2)
        order = re.findall(r"(todo-db-\d): rolling update", c.events(4000))
        self.assertEqual(order, ["todo-db-2", "todo-db-1", "todo-db-0"])

        # The rotated replication password is the one in effect, the old one no longer is.
        primary = c.pod("todo-db-0").ip
        replication_db = "dbname=postgres replication=true"
        r = self.tcp_query(primary, "replicator", "rotated-replication", "IDENTIFY_SYSTEM", db=replication_db)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.tcp_query(primary, "replicator", "bed-replication-pw", "IDENTIFY_SYSTEM", db=replication_db)
        self.assertNotEqual(r.returncode, 0, "the old replication password still works")
        self.assertIn("password authentication failed", r.stderr)

        # A new replica clones with the rotated password.
        c.scale("todo-db", 4)
        c.wait_settled("todo-db", 300)
        self.wait_streaming("todo-db-0", 3)
        self.assertIn("cloned", c.pod("todo-db-3").container("init").last_exit[1])
        self.assertEqual(self.sql("todo-db-3", "select count(*) from t"), "10")


class TlsTurnedOn(RuntimeTest):
    def test_turning_tls_on_rolls_the_set_and_every_replica_ends_verifying_its_primary(self):
        """`helm upgrade --set tls.enabled=true` on a set running without TLS (as chart 0.5.0
        installed it). The roll restarts todo-db-2, then todo-db-1, with TLS while todo-db-0
        serves none yet: they stream with the interim sslmode=prefer (verify-full would keep the
        first one unready and stop the roll there, so the set never got TLS); todo-db-0 restarts
        last, with TLS; each replica's sidecar then switches to verify-full without a restart,
        and a new replica clones verifying the primary."""
        c = self.cluster
        self.install(["tls.enabled=false"], replicas=3)
        self.assertEqual(self.sql("todo-db-0", "show ssl"), "off")
        self.sql("todo-db-0", "create table t as select generate_series(1, 10) x")
        before = {p.name: p for p in c.pods()}
        self.upgrade(["replicas=3", "tls.enabled=true"])
        c.wait(lambda: all(p.gone.is_set() for p in before.values()), 600, "every old pod replaced")
        c.wait_settled("todo-db", 240)
        order = re.findall(r"(todo-db-\d): rolling update", c.events(4000))
        self.assertEqual(order, ["todo-db-2", "todo-db-1", "todo-db-0"])
        self.assertEqual(self.sql("todo-db-0", "show ssl"), "on")
        over_tls = ("select count(*) from pg_catalog.pg_stat_replication r join pg_catalog.pg_stat_ssl s "
                    "using (pid) where r.state = 'streaming' and s.ssl")
        c.wait(lambda: self.sql("todo-db-0", over_tls) == "2", 180, "both replicas streaming over TLS")
        for r in ("todo-db-1", "todo-db-2"):
            c.wait(lambda r=r: "sslmode=verify-full" in self.sql(r, "show primary_conninfo"), 120,
                   f"{r} verifying its primary")
            self.assertIn("serves no TLS yet", open(c.pod(r).container("init").log_path, errors="replace").read())
        c.scale("todo-db", 4)
        c.wait_settled("todo-db", 300)
        c.wait(lambda: self.sql("todo-db-0", over_tls) == "3", 120, "three replicas streaming over TLS")
        self.assertIn("sslmode=verify-full", self.sql("todo-db-3", "show primary_conninfo"))
        self.assertEqual(self.sql("todo-db-3", "select count(*) from t"), "10")
