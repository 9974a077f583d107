"""The test bed's own logic against fakes (no root, no containers): the StatefulSet controller's
ordering rules, the kubelet's service-link variables and $(VAR) expansion, volume modes."""

import os
import tempfile
import threading
import unittest

from kubesim.container import expand, service_link_env
from kubesim.statefulset import StatefulSet
from kubesim.volumes import apply_fs_group, new_persistent_volume


class FakePod:
    def __init__(self, name):
        self.name = name
        self.ready = False
        self.deletion = None
        self.gone = threading.Event()
        self.revision = None

    @property
    def terminating(self):
        return self.deletion is not None

    def start(self):
        pass

    def delete(self, grace=None, force=False):
        self.deletion = (grace, force)

    def event(self, text):
        pass


class FakeCluster:
    def __init__(self):
        self.created = []
        self.claims = set()

    def ensure_claim(self, name, template):
        self.claims.add(name)

    def delete_claim(self, name):
        self.claims.discard(name)

    def new_pod(self, name, namespace, labels, annotations, spec):
        pod = FakePod(name)
        pod.labels = labels
        pod.spec = spec
        self.created.append(pod)
        return pod


def sts(replicas, policy, annotation="a", retention=None):
    spec = {"serviceName": "db", "replicas": replicas, "podManagementPolicy": policy,
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}, "annotations": {"x": annotation}},
                         "spec": {"containers": [{"name": "c", "image": "i"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}]}
    if retention:
        spec["persistentVolumeClaimRetentionPolicy"] = retention
    return {"metadata": {"name": "db"}, "spec": spec}


def finish(pod):
    pod.gone.set()


class StatefulSetControllerTest(unittest.TestCase):
    def test_ordered_ready_creates_one_at_a_time_after_ready(self):
        c = FakeCluster()
        s = StatefulSet(c, sts(3, "OrderedReady"))
        s.reconcile()
        s.reconcile()
        self.assertEqual([p.name for p in c.created], ["db-0"])
        c.created[0].ready = True
        s.reconcile()
        self.assertEqual([p.name for p in c.created], ["db-0", "db-1"])
        self.assertEqual(c.claims, {"data-db-0", "data-db-1"})
        self.assertEqual(c.created[1].labels["statefulset.kubernetes.io/pod-name"], "db-1")
        self.assertEqual(c.created[1].spec["volumes"][-1]["persistentVolumeClaim"]["claimName"], "data-db-1")

    def test_parallel_creates_all_at_once(self):
        c = FakeCluster()
        StatefulSet(c, sts(3, "Parallel")).reconcile()
        self.assertEqual([p.name for p in c.created], ["db-0", "db-1", "db-2"])

    def test_scale_down_from_the_top_keeps_claims(self):
        c = FakeCluster()
        s = StatefulSet(c, sts(3, "OrderedReady"))
        for _ in range(3):
            s.reconcile()
            for p in c.created:
                p.ready = True
        s.scale(1)
        s.reconcile()
        self.assertTrue(c.created[2].terminating)
        self.assertFalse(c.created[1].terminating, "one at a time under OrderedReady")
        finish(c.created[2])
        s.reconcile()
        self.assertTrue(c.created[1].terminating)
        finish(c.created[1])
        s.reconcile()
        self.assertIn("data-db-2", c.claims)

    def test_when_scaled_delete_drops_the_claim(self):
        c = FakeCluster()
        s = StatefulSet(c, sts(2, "Parallel", retention={"whenScaled": "Delete"}))
        s.reconcile()
        s.scale(1)
        s.reconcile()
        finish(c.created[1])
        s.reconcile()
        self.assertEqual(c.claims, {"data-db-0"})

    def test_rolling_update_highest_first_waits_for_ready(self):
        c = FakeCluster()
        s = StatefulSet(c, sts(3, "Parallel"))
        s.reconcile()
        for p in c.created:
            p.ready = True
        s.update(sts(3, "Parallel", annotation="b"))
        s.reconcile()
        self.assertEqual([p.name for p in c.created if p.terminating], ["db-2"])
        finish(c.created[2])
        s.reconcile()                  # recreates db-2 at the new revision, not yet ready
        self.assertEqual(c.created[-1].name, "db-2")
        s.reconcile()
        self.assertFalse(c.created[1].terminating, "waits for the new db-2 to be Ready")
        c.created[-1].ready = True
        s.reconcile()
        self.assertTrue(c.created[1].terminating)

    def test_deleted_pod_is_recreated_with_its_claim(self):
        c = FakeCluster()
        s = StatefulSet(c, sts(2, "Parallel"))
        s.reconcile()
        c.created[0].delete()
        finish(c.created[0])
        s.reconcile()
        self.assertEqual([p.name for p in c.created], ["db-0", "db-1", "db-0"])


class KubeletLogicTest(unittest.TestCase):
    def test_service_links_for_services_with_a_cluster_ip(self):
        env = service_link_env([
            {"name": "replagent-postgres-rw", "clusterIP": "10.96.255.10",
             "ports": [{"name": "postgres", "port": 5432}]},
            {"name": "replagent-postgres", "clusterIP": "None", "ports": [{"port": 5432}]}])
        self.assertEqual(env["REPLAGENT_POSTGRES_RW_SERVICE_HOST"], "10.96.255.10")
        self.assertEqual(env["REPLAGENT_POSTGRES_RW_PORT"], "tcp://10.96.255.10:5432")
        self.assertEqual(env["REPLAGENT_POSTGRES_RW_PORT_5432_TCP_ADDR"], "10.96.255.10")
        self.assertEqual(env["REPLAGENT_POSTGRES_RW_SERVICE_PORT_POSTGRES"], "5432")
        self.assertNotIn("REPLAGENT_POSTGRES_SERVICE_HOST", env, "headless Services get none")

    def test_dependent_variable_expansion(self):
        env = {"A": "x"}
        self.assertEqual(expand("$(A)/$(B)/$$(A)", env), "x/$(B)/$(A)")


class VolumeTest(unittest.TestCase):
    @unittest.skipUnless(os.geteuid() == 0, "chown needs root")
    def test_fs_group_on_a_fresh_volume(self):
        with tempfile.TemporaryDirectory() as d:
            v = os.path.join(d, "pv")
            new_persistent_volume(v)
            self.assertEqual(os.stat(v).st_mode & 0o7777, 0o755)
            apply_fs_group(v, 999, "OnRootMismatch")
            st = os.stat(v)
            self.assertEqual((st.st_gid, st.st_mode & 0o7777), (999, 0o2775))


if __name__ == "__main__":
    unittest.main()


class ApiServerAuthTest(unittest.TestCase):
    """The API server's authentication (bound tokens) and RBAC, as documented: a RoleBinding in
    the namespace naming the service account, a Role rule matching group, resource, verb and
    (when listed) the object's name."""

    def setUp(self):
        from kubesim.apiserver import ApiServer

        class Cluster:
            domain = "cluster.local"

            def __init__(self):
                self.objects = {}
                self.live = []

            def pods(self):
                return self.live

        self.cluster = Cluster()
        self.tmp = tempfile.TemporaryDirectory()
        self.api = ApiServer(self.cluster, "10.96.0.1", self.tmp.name)
        self.cluster.objects[("Role", "r")] = {
            "metadata": {"name": "r", "namespace": "default"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["patch"], "resourceNames": ["db-0", "db-1"]}]}
        self.cluster.objects[("RoleBinding", "rb")] = {
            "metadata": {"name": "rb", "namespace": "default"}, "roleRef": {"kind": "Role", "name": "r"},
            "subjects": [{"kind": "ServiceAccount", "name": "db", "namespace": "default"}]}

    def tearDown(self):
        self.tmp.cleanup()

    def test_rbac_by_binding_rule_and_resource_name(self):
        self.assertTrue(self.api._allowed("default", "db", "patch", "pods", "db-1"))
        self.assertFalse(self.api._allowed("default", "db", "patch", "pods", "db-2"), "a name not listed")
        self.assertFalse(self.api._allowed("default", "db", "delete", "pods", "db-1"), "another verb")
        self.assertFalse(self.api._allowed("default", "db", "patch", "secrets", "db-1"), "another resource")
        self.assertFalse(self.api._allowed("default", "other", "patch", "pods", "db-1"), "another account")
        self.assertFalse(self.api._allowed("prod", "db", "patch", "pods", "db-1"), "another namespace")

    def test_a_bound_token_is_valid_while_its_pod_exists(self):
        class P:
            uid = "db-0-1"
        token = self.api.issue_token("default", "db", "db-0-1")
        self.assertIsNone(self.api._authenticate(f"Bearer {token}"), "its pod does not exist")
        self.cluster.live = [P()]
        self.assertEqual(self.api._authenticate(f"Bearer {token}"), ("default", "db"))
        self.assertIsNone(self.api._authenticate("Bearer other"))
        self.assertIsNone(self.api._authenticate(token), "not a bearer header")
