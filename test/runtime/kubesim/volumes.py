"""Pod volumes the way the kubelet lays them out on a node.

- persistentVolumeClaim: a directory per claim, made like a freshly formatted ext4 volume
  (root:root 0755 holding lost+found), kept until the claim is deleted.
- emptyDir: a 0777 directory; `medium: Memory` is a tmpfs of `sizeLimit` (the kubelet counts
  it against the pod's memory; here the tmpfs size is the bound). On disk, `sizeLimit` is
  enforced by the kubelet through eviction, which is not emulated: the runner says so once.
- configMap / secret: one file per key (or per `items` entry) with `defaultMode`/`mode`;
- projected: configMap, secret, downwardAPI (fieldRef) and serviceAccountToken sources (a
  bound token from kubesim/apiserver.py) in one directory;
  a secret's or configMap's files belong to root and, with `fsGroup`, to that group.
- fsGroup: the kubelet makes every supported volume group-owned by fsGroup, group-writable
  and setgid on directories; with `fsGroupChangePolicy: OnRootMismatch` only when the volume's
  root does not already have that group.
"""

import base64
import os
import subprocess

from .errors import NotEmulated


def _chown_tree(path, gid):
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
            st = os.lstat(name)
            if os.path.islink(name):
                continue
            os.chown(name, -1, gid)
            mode = st.st_mode & 0o7777
            if os.path.isdir(name):
                os.chmod(name, mode | 0o2070)
            else:
                os.chmod(name, mode | 0o060 if mode & 0o200 else mode | 0o040)


def apply_fs_group(path, gid, policy):
    if gid is None:
        return
    if policy == "OnRootMismatch" and os.stat(path).st_gid == gid:
        return
    _chown_tree(path, gid)


def new_persistent_volume(path, size=None):
    """A fresh volume: root-owned 0755 with lost+found, like a newly formatted ext4 one; with
    a size (the claim's request), a tmpfs of exactly that size, so a full volume is ENOSPC as
    on a real disk (a provisioner gives at least the request; the bed gives exactly it)."""
    os.makedirs(path, mode=0o755)
    if size is not None:
        mount_tmpfs(path, size, 0o755)
    os.chmod(path, 0o755)
    os.mkdir(os.path.join(path, "lost+found"), 0o700)


def mount_tmpfs(path, size, mode):
    """A tmpfs of `size` (a Kubernetes quantity) at `path`; its root gets `mode`."""
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={parse_quantity(size)},mode={mode:04o}",
                    "kubesim", path], check=True)


def parse_quantity(q):
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "k": 1000, "M": 10**6,
             "G": 10**9, "T": 10**12}
    q = str(q)
    for u, f in units.items():
        if q.endswith(u):
            return int(float(q[:-len(u)]) * f)
    return int(q)


def key_files(data, items, default_mode):
    """[(relative path, bytes, mode)] for a configMap's or secret's projection."""
    files = []
    if items:
        for it in items:
            if it["key"] not in data:
                raise KeyError(f"key {it['key']} not in the object")
            files.append((it["path"], data[it["key"]], it.get("mode", default_mode)))
    else:
        for k, v in data.items():
            files.append((k, v, default_mode))
    return files


def secret_data(obj):
    data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    for k, v in (obj.get("stringData") or {}).items():
        data[k] = v.encode()
    return data


def configmap_data(obj):
    return {k: v.encode() for k, v in (obj.get("data") or {}).items()}


class PodVolumes:
    """Materialises a pod's `volumes` under `root`; `paths[name]` is each host path."""

    def __init__(self, cluster, pod_spec, root, claim_dir, notes, pod=None):
        self.cluster = cluster
        self.pod = pod
        self.paths = {}
        self.mounts = []      # tmpfs mount points to unmount
        self.projections = []  # (kind, volume name, source, path) of secret/configMap volumes
        sc = pod_spec.get("securityContext") or {}
        self.fs_group = sc.get("fsGroup")
        policy = sc.get("fsGroupChangePolicy", "Always")
        os.makedirs(root, exist_ok=True)
        for vol in pod_spec.get("volumes") or []:
            name = vol["name"]
            kinds = [k for k in vol if k != "name"]
            kind = kinds[0] if kinds else "emptyDir"
            src = vol.get(kind) or {}
            if kind == "emptyDir":
                path = os.path.join(root, "empty", name)
                os.makedirs(path)
                os.chmod(path, 0o777)
                if src.get("medium") == "Memory":
                    mount_tmpfs(path, src.get("sizeLimit", "64Mi"), 0o777)
                    self.mounts.append(path)
                elif src.get("medium"):
                    raise NotEmulated(f"emptyDir medium {src['medium']!r} (volume {name})")
                elif "sizeLimit" in src:
                    notes.add("emptyDir sizeLimit on disk is enforced by kubelet eviction, not emulated")
                apply_fs_group(path, self.fs_group, "Always")
            elif kind == "persistentVolumeClaim":
                path = claim_dir(src["claimName"])
                apply_fs_group(path, self.fs_group, policy)
            elif kind in ("secret", "configMap"):
                path = os.path.join(root, kind, name)
                os.makedirs(path)
                os.chmod(path, 0o755)
                self.projections.append((kind, name, src, path))
                self._project(kind, name, src, path)
            elif kind == "projected":
                # Several sources in one directory: Secrets' and ConfigMaps' keys (refreshed
                # like theirs), the downward API's fields, and a bound service-account token
                # from the API server (kubesim/apiserver.py), valid while this pod exists.
                path = os.path.join(root, kind, name)
                os.makedirs(path)
                os.chmod(path, 0o755)
                mode = src.get("defaultMode", 0o644)
                for source in src.get("sources") or []:
                    if "secret" in source or "configMap" in source:
                        k = "secret" if "secret" in source else "configMap"
                        sub = dict(source[k], defaultMode=mode)
                        if k == "secret":
                            sub["secretName"] = sub.pop("name")
                        self.projections.append((k, name, sub, path))
                        self._project(k, name, sub, path)
                    elif "serviceAccountToken" in source:
                        if self.pod is None or getattr(cluster, "api", None) is None:
                            raise NotEmulated("serviceAccountToken without an API server")
                        t = source["serviceAccountToken"]
                        if "audience" in t:
                            raise NotEmulated("serviceAccountToken audience")
                        token = cluster.api.issue_token(self.pod.namespace,
                                                        pod_spec.get("serviceAccountName", "default"),
                                                        self.pod.uid)
                        self._write(os.path.join(path, t["path"]), token.encode(), mode)
                    elif "downwardAPI" in source:
                        for it in source["downwardAPI"]["items"]:
                            if "fieldRef" not in it:
                                raise NotEmulated(f"downwardAPI item {sorted(it)}")
                            value = self.pod.field(it["fieldRef"]["fieldPath"])
                            self._write(os.path.join(path, it["path"]), value.encode(), it.get("mode", mode))
                    else:
                        raise NotEmulated(f"projected source {sorted(source)} (volume {name})")
                if self.fs_group is not None:
                    os.chown(path, 0, self.fs_group)
            else:
                raise NotEmulated(f"volume type {kind} (volume {name})")
            self.paths[name] = path

    def _write(self, f, content, mode):
        os.makedirs(os.path.dirname(f), exist_ok=True)
        tmp = f + ".kubesim-new"
        with open(tmp, "wb") as out:
            out.write(content)
        # With fsGroup the kubelet gives the files to that group, readable by it.
        if self.fs_group is not None:
            os.chown(tmp, 0, self.fs_group)
            mode = mode | ((mode & 0o400) >> 3)
        os.chmod(tmp, mode)
        os.replace(tmp, f)   # the kubelet swaps a ..data symlink: readers see old or new

    def _project(self, kind, name, src, path):
        obj_name = src["secretName"] if kind == "secret" else src["name"]
        obj = self.cluster.get_object("Secret" if kind == "secret" else "ConfigMap", obj_name)
        if obj is None:
            raise RuntimeError(f"{kind} {obj_name} of volume {name} does not exist "
                               "(the kubelet keeps such a pod in ContainerCreating)")
        data = secret_data(obj) if kind == "secret" else configmap_data(obj)
        for rel, content, mode in key_files(data, src.get("items"), src.get("defaultMode", 0o644)):
            self._write(os.path.join(path, rel), content, mode)
        if self.fs_group is not None:
            os.chown(path, 0, self.fs_group)

    def refresh(self):
        """The kubelet's periodic sync of projected files (subPath mounts excluded)."""
        for kind, name, src, path in self.projections:
            self._project(kind, name, src, path)

    def release(self):
        for m in self.mounts:
            subprocess.run(["umount", "-l", m], check=False)
        self.mounts = []
