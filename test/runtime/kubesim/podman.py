"""The one place that runs podman: rootful, runc, cgroupfs, the ulimits and the network modes
shared/PLATFORM.md says work here (never podman's own network: every container joins its
pod's namespace with `--network ns:`), in a storage root of the test bed's own."""

import hashlib
import json
import os
import subprocess
import threading

DEFAULT_STORAGE = os.path.join(os.environ.get("REPLAGENT_DEPS", "/var/cache/replagent-deps"),
                               "runtime-storage")
STORAGE = os.environ.get("REPLAGENT_RUNTIME_STORAGE", DEFAULT_STORAGE)
# Its run state: one per storage root (podman records it in the storage's database and refuses
# another; it also limits the path's length).
RUNROOT = ("/run/replagent-runtime-storage" if STORAGE == DEFAULT_STORAGE
           else "/run/replagent-rt-" + hashlib.sha256(STORAGE.encode()).hexdigest()[:12])
GLOBAL = ["podman", "--root", STORAGE, "--runroot", RUNROOT, "--storage-driver", "overlay",
          "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "none"]
# runc here cannot raise these limits (PLATFORM.md): every container gets them explicitly.
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
LABEL = "io.replagent.kubesim"

_image_lock = threading.Lock()
_image_users = {}


def podman(*args, check=True, timeout=120, input=None):
    r = subprocess.run(GLOBAL + list(args), check=False, capture_output=True, text=True,
                       timeout=timeout, input=input)
    if check and r.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args[:3])} ... exited {r.returncode}: {r.stderr.strip()[-800:]}")
    return r


def load_image(archive, ref):
    """Loads an OCI archive once (the storage root is kept between runs: a cache keyed by
    the archive's mtime and size)."""
    stamp = f"{os.path.getmtime(archive):.0f}:{os.path.getsize(archive)}"
    marker = os.path.join(STORAGE, "kubesim-loaded", ref.replace("/", "_").replace(":", "_"))
    with _image_lock:
        if (podman("image", "exists", ref, check=False).returncode == 0 and os.path.exists(marker)
                and open(marker).read() == stamp):
            return ref
        out = podman("load", "-q", "-i", archive, timeout=600).stdout
        loaded = [l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Loaded image")]
        if loaded and ref not in loaded:
            podman("tag", loaded[0], ref)
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        with open(marker, "w") as f:
            f.write(stamp)
        _image_users.pop(ref, None)
        return ref


def image_config(ref):
    with _image_lock:
        if ref not in _image_users:
            r = podman("image", "inspect", ref, check=False)
            if r.returncode != 0:
                raise LookupError(f"image {ref} is not in the test bed's storage (no registry "
                                  "can be reached: load it with Cluster.load_image first)")
            cfg = json.loads(r.stdout)[0].get("Config") or {}
            _image_users[ref] = cfg
        return _image_users[ref]


def remove_labelled(run_id):
    ids = podman("ps", "-aq", "--filter", f"label={LABEL}={run_id}", check=False).stdout.split()
    if ids:
        podman("rm", "-f", "-t", "0", *ids, check=False)
    return ids
